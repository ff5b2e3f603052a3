#!/usr/bin/env bash
# The region-proof topology by hand (tests/cluster/test_region_proof.py builds the same one itself), as root:
#
#   scripts/netns.sh up [TAG]     hub namespace TAG-cp and spokes TAG-clients, TAG-eu-1, TAG-eu-2, TAG-us-1;
#                                 spoke i is joined to the hub by a veth link 10.213.i.0/24 (hub .1, spoke .2),
#                                 the hub routes between links. Nothing is added to the caller's namespace.
#   scripts/netns.sh down TAG     delete TAG's namespaces (their veth links go with them)
#   scripts/netns.sh clean        delete namespaces left behind by interrupted test runs (clu<6 hex>-*)
#   scripts/netns.sh list
#
# Then e.g.: ip netns exec TAG-eu-1 .venv/bin/castellan node --host 10.213.1.2 --public-ip 10.213.1.2 ...
set -euo pipefail

SPOKES=(clients eu-1 eu-2 us-1)

up() {
  local tag=${1:-clu$(openssl rand -hex 3)} hub i=0
  hub="$tag-cp"
  ip netns add "$hub"
  ip -n "$hub" link set lo up
  for s in "${SPOKES[@]}"; do
    ip netns add "$tag-$s"
    ip -n "$tag-$s" link set lo up
    ip link add "to$i" netns "$hub" type veth peer name up0 netns "$tag-$s"
    ip -n "$hub" addr add "10.213.$i.1/24" dev "to$i"
    ip -n "$tag-$s" addr add "10.213.$i.2/24" dev up0
    ip -n "$hub" link set "to$i" up
    ip -n "$tag-$s" link set up0 up
    ip -n "$tag-$s" route add default via "10.213.$i.1"
    echo "$tag-$s: 10.213.$i.2 (hub side 10.213.$i.1, interface up0)"
    i=$((i + 1))
  done
  ip netns exec "$hub" sysctl -qw net.ipv4.ip_forward=1
  echo "$hub: routes between the links; control plane and Redis would listen on 10.213.0.1"
  echo "remove with: $0 down $tag"
}

down() {
  local tag=${1:?usage: $0 down TAG}
  for ns in "$tag-cp" "${SPOKES[@]/#/$tag-}"; do ip netns del "$ns" 2>/dev/null || true; done
}

case "${1:-}" in
  up) up "${2:-}" ;;
  down) down "${2:-}" ;;
  clean) ip netns list | awk '{print $1}' | grep -E '^clu[0-9a-f]{6}-' | while read -r ns; do ip netns del "$ns"; echo "deleted $ns"; done ;;
  list) ip netns list | grep -E '^clu[0-9a-f]{6}-' || true ;;
  *) sed -n '2,12p' "$0"; exit 2 ;;
esac
