{{/* Chart name, truncated to 63 characters. */}}
{{- define "castellan.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
Fully qualified app name. Kept at most 40 characters so that "<fullname>-node-<region>" (regions are at most
16 characters) stays a valid 63-character name.
*/}}
{{- define "castellan.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "castellan.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Common labels; call with the root context. */}}
{{- define "castellan.labels" -}}
helm.sh/chart: {{ include "castellan.chart" . }}
{{ include "castellan.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: castellan
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "castellan.selectorLabels" -}}
app.kubernetes.io/name: {{ include "castellan.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of one component: (dict "root" $ "component" "node" "region" $region) — region optional. */}}
{{- define "castellan.componentLabels" -}}
{{ include "castellan.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- with .region }}
castellan.io/region: {{ .name }}
castellan.io/jurisdiction: {{ .jurisdiction | quote }}
{{- end }}
{{- end -}}

{{- define "castellan.componentSelectorLabels" -}}
{{ include "castellan.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- with .region }}
castellan.io/region: {{ .name }}
{{- end }}
{{- end -}}

{{- define "castellan.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "castellan.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Castellan image reference. */}}
{{- define "castellan.image" -}}
{{- $repo := .Values.image.repository -}}
{{- if .Values.image.registry -}}{{- $repo = printf "%s/%s" .Values.image.registry $repo -}}{{- end -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{/* Image of a third-party component: pass its image dict. */}}
{{- define "castellan.thirdPartyImage" -}}
{{- if .registry -}}{{ printf "%s/%s:%s" .registry .repository .tag }}{{- else -}}{{ printf "%s:%s" .repository .tag }}{{- end -}}
{{- end -}}

{{- define "castellan.controlPlane.fullname" -}}
{{- printf "%s-control-plane" (include "castellan.fullname" .) -}}
{{- end -}}

{{- define "castellan.controlPlane.url" -}}
{{- printf "http://%s.%s.svc.%s:%d" (include "castellan.controlPlane.fullname" .) .Release.Namespace .Values.clusterDomain (int .Values.controlPlane.port) -}}
{{- end -}}

{{- define "castellan.controlPlane.publicUrl" -}}
{{- if .Values.controlPlane.publicUrl -}}
{{- .Values.controlPlane.publicUrl -}}
{{- else if and .Values.controlPlane.ingress.enabled .Values.controlPlane.ingress.hosts -}}
{{- $host := (first .Values.controlPlane.ingress.hosts).host -}}
{{- $tls := false -}}
{{- range .Values.controlPlane.ingress.tls }}{{ if has $host .hosts }}{{ $tls = true }}{{ end }}{{ end -}}
{{- printf "%s://%s" (ternary "https" "http" $tls) $host -}}
{{- end -}}
{{- end -}}

{{- define "castellan.signingKeys.secretName" -}}
{{- default (printf "%s-signing-keys" (include "castellan.fullname" .)) .Values.signingKeys.existingSecret -}}
{{- end -}}

{{- define "castellan.redis.fullname" -}}
{{- printf "%s-redis" (include "castellan.fullname" .) -}}
{{- end -}}

{{/* Name and key of the Secret holding the Redis URL the Castellan processes use. */}}
{{- define "castellan.redis.secretName" -}}
{{- if .Values.redis.existingSecret -}}
{{- .Values.redis.existingSecret -}}
{{- else -}}
{{- printf "%s-redis-url" (include "castellan.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "castellan.redis.secretKey" -}}
{{- if .Values.redis.existingSecret -}}{{ .Values.redis.existingSecretKey }}{{- else -}}redis-url{{- end -}}
{{- end -}}

{{/* Fails on a values combination that cannot work; included once from NOTES-independent templates. */}}
{{- define "castellan.validate" -}}
{{- $external := or .Values.redis.url .Values.redis.existingSecret -}}
{{- if and $external .Values.redis.bundled.enabled -}}
{{- fail "redis: set redis.bundled.enabled=false when you use redis.url or redis.existingSecret" -}}
{{- end -}}
{{- if not (or $external .Values.redis.bundled.enabled) -}}
{{- fail "redis: set redis.url, redis.existingSecret, or redis.bundled.enabled=true" -}}
{{- end -}}
{{- $seen := dict -}}
{{- range .Values.regions -}}
{{- if hasKey $seen .name -}}{{- fail (printf "regions: %q is listed twice" .name) -}}{{- end -}}
{{- $_ := set $seen .name true -}}
{{- end -}}
{{- if include "castellan.gateway.enabled" . -}}
{{- if not (include "castellan.controlPlane.publicUrl" .) -}}
{{- fail "gateway: nodes advertise wss://<public host>/node/...: set controlPlane.publicUrl or enable the Ingress" -}}
{{- end -}}
{{- range .Values.regions -}}
{{- if not .nodeAddresses -}}
{{- fail (printf "regions[%s].nodeAddresses: the region's node addresses are required with the signalling gateway (it forwards to them only)" .name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- include "castellan.recording.validate" . -}}
{{- if and (gt (int .Values.controlPlane.replicas) 1) (include "castellan.controlPlane.sqliteVolume" .) (not .Values.controlPlane.persistence.existingClaim) -}}
{{- if has "ReadWriteOnce" .Values.controlPlane.persistence.accessModes -}}
{{- fail "controlPlane: replicas > 1 cannot share a ReadWriteOnce SQLite volume; use one replica or a ReadWriteMany claim" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
Deep merge that, unlike sprig's merge/mergeOverwrite, lets false, 0, "" and [] in `src` win: maps are merged key
by key (recursively), anything else in `src` replaces the value in `dst`. Mutates `dst` (pass a deepCopy).
Call: include "castellan.merge" (dict "dst" $d "src" $s)
*/}}
{{- define "castellan.merge" -}}
{{- $dst := .dst -}}
{{- range $k, $v := .src -}}
{{- if and (kindIs "map" $v) (kindIs "map" (get $dst $k)) -}}
{{- include "castellan.merge" (dict "dst" (get $dst $k) "src" $v) -}}
{{- else -}}
{{- $_ := set $dst $k $v -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/*
One region's effective node settings: the `node` defaults, deep-merged with the region's own keys (maps merge
key by key; scalars and lists set on the region win, including false and []).
Call: include "castellan.region.merge" (dict "root" $ "region" $r "out" $dict) — fills $dict.
*/}}
{{- define "castellan.region.merge" -}}
{{- range $k, $v := deepCopy .root.Values.node }}{{ $_ := set $.out $k $v }}{{ end -}}
{{- include "castellan.merge" (dict "dst" .out "src" (omit .region "turn" "nodeKey" "ingress")) -}}
{{- end -}}

{{/* One region's effective TURN settings: the global `turn` defaults deep-merged with the region's `turn`. */}}
{{- define "castellan.region.turn" -}}
{{- range $k, $v := deepCopy .root.Values.turn }}{{ $_ := set $.out $k $v }}{{ end -}}
{{- include "castellan.merge" (dict "dst" .out "src" (.region.turn | default dict)) -}}
{{- end -}}

{{- define "castellan.turn.fullname" -}}
{{- printf "%s-turn-%s" (include "castellan.fullname" .root) .region.name -}}
{{- end -}}

{{- define "castellan.turn.secretName" -}}
{{- default (printf "%s-turn-%s" (include "castellan.fullname" .root) .region.name) .turn.existingSecret -}}
{{- end -}}

{{/* Env vars shared by every Castellan container. */}}
{{- define "castellan.commonEnv" -}}
- name: CASTELLAN_REDIS_URL
  valueFrom:
    secretKeyRef:
      name: {{ include "castellan.redis.secretName" . }}
      key: {{ include "castellan.redis.secretKey" . }}
- name: CASTELLAN_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
{{- if or .Values.caBundle.existingSecret .Values.caBundle.configMap }}
- name: CASTELLAN_CA_BUNDLE
  value: {{ printf "/etc/castellan/ca/%s" .Values.caBundle.key | quote }}
# OpenSSL's (so Python's ssl, urllib and redis-py's): the same bundle for rediss:// and https
- name: SSL_CERT_FILE
  value: {{ printf "/etc/castellan/ca/%s" .Values.caBundle.key | quote }}
{{- end }}
- name: PYTHONUNBUFFERED
  value: "1"
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The deployment's regions as residency.model.Region dicts (JSON), for CASTELLAN_REGIONS. */}}
{{- define "castellan.regionList" -}}
{{- $out := list -}}
{{- range .Values.regions -}}
{{- $out = append $out (dict "id" .name "jurisdiction" .jurisdiction "location" (.location | default "") "display_name" (.displayName | default .name)) -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* Name of the Secret holding a region's node key (`node-key.pem`): (dict "root" $ "region" $region). */}}
{{- define "castellan.nodeKey.secretName" -}}
{{- $nk := .region.nodeKey | default dict -}}
{{- default (printf "%s-node-key-%s" (include "castellan.fullname" .root) .region.name) $nk.existingSecret -}}
{{- end -}}

{{/* Node public keys listed in the values, for CASTELLAN_NODE_KEYS (JSON list of {region, public_key}). */}}
{{- define "castellan.nodeKeyList" -}}
{{- $out := list -}}
{{- range .Values.regions -}}
{{- $region := .name -}}
{{- range ((.nodeKey | default dict).publicKeys | default list) -}}
{{- $out = append $out (dict "region" $region "public_key" .) -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* ICE server URLs of a region's TURN, comma-separated: (dict "turn" $turn). */}}
{{- define "castellan.turn.urls" -}}
{{- $t := .turn -}}
{{- $urls := list (printf "turn:%s:%d?transport=udp" $t.host (int $t.port)) (printf "turn:%s:%d?transport=tcp" $t.host (int $t.port)) -}}
{{- if $t.tls.enabled -}}{{- $urls = append $urls (printf "turns:%s:%d?transport=tcp" $t.host (int $t.tls.port)) -}}{{- end -}}
{{- join "," $urls -}}
{{- end -}}

{{/* The Secret holding the control plane's PostgreSQL URL ("" when the store is SQLite). */}}
{{- define "castellan.database.secretName" -}}
{{- if .Values.controlPlane.database.existingSecret -}}
{{- .Values.controlPlane.database.existingSecret -}}
{{- else if .Values.controlPlane.database.url -}}
{{- printf "%s-database-url" (include "castellan.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* "true" when the control plane keeps its SQLite store on a persistent volume (no PostgreSQL configured). */}}
{{- define "castellan.controlPlane.sqliteVolume" -}}
{{- if and .Values.controlPlane.persistence.enabled (not (include "castellan.database.secretName" .)) -}}true{{- end -}}
{{- end -}}

{{/* The signalling gateway is on when set, or (null) exactly when the Ingress is enabled. "true" or "". */}}
{{- define "castellan.gateway.enabled" -}}
{{- $e := .Values.gateway.enabled -}}
{{- if kindIs "invalid" $e -}}{{- $e = .Values.controlPlane.ingress.enabled -}}{{- end -}}
{{- if $e -}}true{{- end -}}
{{- end -}}

{{- define "castellan.gateway.fullname" -}}
{{- printf "%s-gateway" (include "castellan.fullname" .) -}}
{{- end -}}

{{/* nginx's `geo ... ranges` entry for a coturn-style address (IP or IP-IP). */}}
{{- define "castellan.gateway.range" -}}
{{- if contains "-" . -}}{{ . }}{{- else -}}{{ printf "%s-%s" . . }}{{- end -}}
{{- end -}}

{{/*
The gateway's nginx.conf: /node/<IPv4>/ws -> http://<IPv4>:<region httpPort>/ws when the address is in a region's
nodeAddresses; 404 for anything else. Paths under /tmp (the pod's read-only root).
*/}}
{{- define "castellan.gateway.nginxConf" -}}
worker_processes auto;
pid /tmp/nginx.pid;
error_log /dev/stderr notice;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path /tmp/client_body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;
    server_tokens off;
    map $http_upgrade $connection_upgrade { default upgrade; '' close; }
    # a node address -> its signalling port; "" = not a node of this deployment
    geo $node_ip $node_port {
        ranges;
        default "";
{{- range $region := .Values.regions }}
{{- $r := dict }}
{{- include "castellan.region.merge" (dict "root" $ "region" $region "out" $r) }}
{{- range $region.nodeAddresses }}
        {{ include "castellan.gateway.range" . }} {{ $r.httpPort }};  # {{ $region.name }}
{{- end }}
{{- end }}
    }
    server {
        listen {{ .Values.gateway.port }};
        location = /healthz { return 200 "ok\n"; }
        location ~ "^/node/(?<node_ip>[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})/ws$" {
            if ($node_port = "") { return 404; }
            proxy_pass http://$node_ip:$node_port/ws;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_connect_timeout 5s;
            # a meeting's signalling socket lives as long as the meeting (the node pings every 20 s)
            proxy_read_timeout 3600s;
            proxy_send_timeout 3600s;
        }
        location / { return 404; }
    }
}
{{- end -}}

{{/* ws:// or wss:// and the public host of the control plane's public URL (where the Ingress serves /node/). */}}
{{- define "castellan.publicWsBase" -}}
{{- $u := urlParse (include "castellan.controlPlane.publicUrl" .) -}}
{{- printf "%s://%s" (ternary "wss" "ws" (eq $u.scheme "https")) $u.host -}}
{{- end -}}

{{- define "castellan.gateway.trustedProxies" -}}
{{- join "," (.Values.gateway.trustedProxies | default (list "127.0.0.0/8" "10.0.0.0/8" "172.16.0.0/12" "192.168.0.0/16" "100.64.0.0/10" "::1/128" "fc00::/7")) -}}
{{- end -}}

{{/* The CA bundle volume and its mount (nothing without caBundle.configMap). */}}
{{- define "castellan.caBundle.volume" -}}
{{- if .Values.caBundle.existingSecret -}}
- name: ca-bundle
  secret:
    secretName: {{ .Values.caBundle.existingSecret }}
    defaultMode: 0444
{{- else if .Values.caBundle.configMap -}}
- name: ca-bundle
  configMap:
    name: {{ .Values.caBundle.configMap }}
{{- end -}}
{{- end -}}

{{- define "castellan.caBundle.mount" -}}
{{- if or .Values.caBundle.existingSecret .Values.caBundle.configMap -}}
- name: ca-bundle
  mountPath: /etc/castellan/ca
  readOnly: true
{{- end -}}
{{- end -}}

{{/* One recorder pool's effective settings: recording.pool deep-merged with the pool's own keys. */}}
{{- define "castellan.recorderPool.merge" -}}
{{- range $k, $v := deepCopy .root.Values.recording.pool }}{{ $_ := set $.out $k $v }}{{ end -}}
{{- include "castellan.merge" (dict "dst" .out "src" (omit .pool "region")) -}}
{{- end -}}

{{/* Region -> its recorder pool's own claim (recording.pools[].existingClaim, after the defaults), as JSON. */}}
{{- define "castellan.recording.ownClaims" -}}
{{- $out := dict -}}
{{- if .Values.recording.enabled -}}
{{- range $pool := .Values.recording.pools -}}
{{- $p := dict -}}
{{- include "castellan.recorderPool.merge" (dict "root" $ "pool" $pool "out" $p) -}}
{{- if $p.existingClaim }}{{ $_ := set $out $pool.region $p.existingClaim }}{{ end -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* Where the control plane mounts a region's own recording claim. */}}
{{- define "castellan.recording.regionMount" -}}
{{- printf "%s-%s" .root.Values.recording.volume.mountPath .region -}}
{{- end -}}

{{/*
The control plane's CASTELLAN_RECORDING_REGION_VOLUMES: every chart region -> the volume its recorder pool seals
onto (its own claim's mount, else the shared recording volume). A region not listed has no volume: its recordings
are refused, never read from another region's volume.
*/}}
{{- define "castellan.recording.regionVolumes" -}}
{{- $own := include "castellan.recording.ownClaims" . | fromJson -}}
{{- $s3 := include "castellan.recording.s3Regions" . | fromJson -}}
{{- $out := list -}}
{{- range .Values.regions -}}
{{- if hasKey $s3 .name -}}
{{- /* in its S3 bucket (CASTELLAN_RECORDING_REGION_S3) */ -}}
{{- else if hasKey $own .name -}}
{{- $out = append $out (printf "%s=%s" .name (include "castellan.recording.regionMount" (dict "root" $ "region" .name))) -}}
{{- else -}}
{{- $out = append $out (printf "%s=%s" .name $.Values.recording.volume.mountPath) -}}
{{- end -}}
{{- end -}}
{{- join "," $out -}}
{{- end -}}

{{/* Region -> its recording.s3.regions entry, as JSON ({} when recording is off). */}}
{{- define "castellan.recording.s3Regions" -}}
{{- $out := dict -}}
{{- if .Values.recording.enabled -}}
{{- range .Values.recording.s3.regions }}{{ $_ := set $out .region . }}{{ end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/* Where a region's S3 credentials Secret is mounted (both in the control plane and in the region's pool). */}}
{{- define "castellan.recording.s3CredentialsPath" -}}
{{- printf "/etc/castellan/recording-s3-credentials/%s" . -}}
{{- end -}}

{{/* One region's location as recording/s3config.py reads it (the credentials as the directory mounted). */}}
{{- define "castellan.recording.s3Location" -}}
{{- $loc := dict "endpoint" .entry.endpoint "bucket" .entry.bucket "credentials" (include "castellan.recording.s3CredentialsPath" .entry.region) -}}
{{- if .entry.signingRegion }}{{ $_ := set $loc "signing_region" .entry.signingRegion }}{{ end -}}
{{- if .entry.prefix }}{{ $_ := set $loc "prefix" .entry.prefix }}{{ end -}}
{{- if .entry.caBundle }}{{ $_ := set $loc "ca_bundle" (printf "/etc/castellan/ca/%s" .root.Values.caBundle.key) }}{{ end -}}
{{- toJson $loc -}}
{{- end -}}

{{- define "castellan.recording.s3ConfigMapName" -}}
{{- printf "%s-recording-s3" (include "castellan.fullname" . | trunc 50 | trimSuffix "-") -}}
{{- end -}}

{{- define "castellan.recording.claimName" -}}
{{- default (printf "%s-recordings" (include "castellan.fullname" .)) .Values.recording.volume.existingClaim -}}
{{- end -}}

{{/*
Recording values that cannot work, refused at template time: no tenant keys; a pool without a region, in a region
this chart does not deploy, listed twice, with replicas < 0, without its link secrets Secret, without a client URL; pools without PostgreSQL (they write the archive into the control plane's database); pools sharing a
ReadWriteOnce volume with the control plane.
*/}}
{{- define "castellan.recording.validate" -}}
{{- $rec := .Values.recording -}}
{{- if $rec.enabled -}}
{{- if not $rec.tenantKeys.existingSecret -}}
{{- fail "recording.tenantKeys.existingSecret: recording needs the tenant keys file from a Secret you create (kubectl create secret generic castellan-recording-tenant-keys --from-file=tenant-keys.json); the chart never makes or inlines tenant keys" -}}
{{- end -}}
{{- $regions := dict -}}
{{- range .Values.regions }}{{ $_ := set $regions .name true }}{{ end -}}
{{- $seen := dict -}}
{{- $shared := false -}}
{{- range $i, $pool := $rec.pools -}}
{{- if not $pool.region -}}
{{- fail (printf "recording.pools[%d]: a recorder pool needs a region (one of: %s)" $i (join ", " (keys $regions | sortAlpha))) -}}
{{- end -}}
{{- if not (hasKey $regions $pool.region) -}}
{{- fail (printf "recording.pools[%d].region: %q is not one of the chart's regions (%s): a pool runs on its region's node pool" $i $pool.region (join ", " (keys $regions | sortAlpha))) -}}
{{- end -}}
{{- if hasKey $seen $pool.region -}}
{{- fail (printf "recording.pools: region %q is listed twice (one pool per region; raise its replicas instead)" $pool.region) -}}
{{- end -}}
{{- $_ := set $seen $pool.region true -}}
{{- $p := dict -}}
{{- include "castellan.recorderPool.merge" (dict "root" $ "pool" $pool "out" $p) -}}
{{- if lt (int $p.replicas) 0 -}}
{{- fail (printf "recording.pools[%s].replicas: %v is below 0" $pool.region $p.replicas) -}}
{{- end -}}
{{- if not (or $p.linkSecrets.existingSecret $p.recorderKeys.existingSecret) -}}
{{- fail (printf "recording.pools[%s].linkSecrets.existingSecret or recording.pools[%s].recorderKeys.existingSecret: the pool reads the link secrets of the meetings it may record (JSON {link: secret}), or the tenants' recorder keys (JSON {tenant: key}), from a Secret you manage; the control plane never has them" $pool.region $pool.region) -}}
{{- end -}}
{{- if not $p.clientUrl -}}
{{- fail (printf "recording.pools[%s].clientUrl: the pool opens the recorder page there: the deployment's public URL, whose production client the pool's browser hands its job (docs/recording.md)" $pool.region) -}}
{{- end -}}
{{- $inS3 := false -}}
{{- range $rec.s3.regions }}{{ if eq .region $pool.region }}{{ $inS3 = true }}{{ end }}{{ end -}}
{{- if and $inS3 $p.existingClaim -}}
{{- fail (printf "recording.pools[%s].existingClaim: region %s seals into its S3 bucket (recording.s3.regions): a region has a volume or a bucket, not both" $pool.region $pool.region) -}}
{{- end -}}
{{- if and (not $p.existingClaim) (not $inS3) -}}{{- $shared = true -}}{{- end -}}
{{- end -}}
{{- $s3seen := dict -}}
{{- range $i, $e := $rec.s3.regions -}}
{{- if not (hasKey $regions ($e.region | default "")) -}}
{{- fail (printf "recording.s3.regions[%d].region: %q is not one of the chart's regions (%s)" $i ($e.region | default "") (join ", " (keys $regions | sortAlpha))) -}}
{{- end -}}
{{- if hasKey $s3seen $e.region -}}
{{- fail (printf "recording.s3.regions: region %q is listed twice (one bucket per region)" $e.region) -}}
{{- end -}}
{{- $_ := set $s3seen $e.region true -}}
{{- range $need := list "endpoint" "bucket" "credentialsSecret" -}}
{{- if not (index $e $need) -}}
{{- fail (printf "recording.s3.regions[%s].%s is required (credentialsSecret: a Secret you create with access-key-id and secret-access-key; never in values)" $e.region $need) -}}
{{- end -}}
{{- end -}}
{{- range $k, $_ := $e -}}
{{- if not (has $k (list "region" "endpoint" "bucket" "signingRegion" "prefix" "credentialsSecret" "caBundle")) -}}
{{- fail (printf "recording.s3.regions[%s].%s: unknown key (credentials go in credentialsSecret, a Secret you create)" $e.region $k) -}}
{{- end -}}
{{- end -}}
{{- if and $e.caBundle (not (or $.Values.caBundle.existingSecret $.Values.caBundle.configMap)) -}}
{{- fail (printf "recording.s3.regions[%s].caBundle: the chart's caBundle (existingSecret or configMap) is not set" $e.region) -}}
{{- end -}}
{{- end -}}
{{- if and $rec.pools (not (include "castellan.database.secretName" .)) -}}
{{- fail "recording.pools: recorder pools write the archive into the control plane's database, which must be PostgreSQL (controlPlane.database.url or existingSecret); SQLite lives on the control plane's own volume" -}}
{{- end -}}
{{- if and $shared (not $rec.volume.existingClaim) (not (has "ReadWriteMany" $rec.volume.accessModes)) -}}
{{- fail "recording.volume.accessModes: recorder pools without existingClaim mount the control plane's recording volume, so it must be ReadWriteMany (or give each pool its own existingClaim)" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Name of the Secret holding a pool's key: (dict "root" $ "pool" $p "region" $name) with $p merged. */}}
{{- define "castellan.recorderPool.keySecretName" -}}
{{- default (printf "%s-recorder-%s" (include "castellan.fullname" .root | trunc 37 | trimSuffix "-") .region) .pool.poolKey.existingSecret -}}
{{- end -}}

{{/* The recorder pools whose key the chart generates (no poolKey.existingSecret), as a list of region names. */}}
{{- define "castellan.recorderPool.generatedKeys" -}}
{{- $out := list -}}
{{- if .Values.recording.enabled -}}
{{- range $pool := .Values.recording.pools -}}
{{- $p := dict -}}
{{- include "castellan.recorderPool.merge" (dict "root" $ "pool" $pool "out" $p) -}}
{{- if not $p.poolKey.existingSecret }}{{ $out = append $out $pool.region }}{{ end -}}
{{- end -}}
{{- end -}}
{{- join "," $out -}}
{{- end -}}
