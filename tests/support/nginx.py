"""nginx (Debian's) in the two roles docs/deploy.md ("TLS") gives it: the Ingress stand-in terminating TLS
(`/node/` to the signalling gateway, everything else to the control plane), and the chart's signalling gateway
itself, run from the nginx.conf the chart renders. Both in the foreground (`daemon off`), every path in a scratch
directory."""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from tests.support.processes import Proc
from tests.support.waiting import wait_until

CONF = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
user root;
events {{ worker_connections 512; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy; fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
    map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
{upstreams}    server {{
        listen {listen} ssl;
        server_name {server_name};
        ssl_certificate {cert};
        ssl_certificate_key {key};
        ssl_protocols TLSv1.2 TLSv1.3;
{node_locations}
        location / {{
            proxy_pass {control_plane};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
        }}
    }}
}}
"""

ROUTE = """\
        location {prefix} {{
            proxy_pass {upstream};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 3600s;
        }}
"""


def config(directory: Path, *, cert: Path, key: Path, control_plane: str, routes: Mapping[str, str],
           listen: str = "443", server_name: str = "_", upstreams: Mapping[str, Sequence[str]] | None = None) -> Path:
    """Writes nginx.conf: TLS on `listen`; each `routes` location prefix -> its upstream (WebSockets pass),
    the rest -> `control_plane`. `upstreams` names server groups (name -> host:port list, round robin, as a
    Service over replicas) that `control_plane` or a route may use as http://<name>."""
    directory.mkdir(parents=True, exist_ok=True)
    groups = "".join(f"    upstream {name} {{\n" + "".join(f"        server {s} max_fails=1 fail_timeout=30s;\n"
                                                             for s in servers) + "    }\n"
                     for name, servers in (upstreams or {}).items())
    locations = "".join(ROUTE.format(prefix=p, upstream=u) for p, u in routes.items())
    path = directory / "nginx.conf"
    path.write_text(CONF.format(dir=directory, listen=listen, server_name=server_name, cert=cert, key=key,
                                node_locations=locations, control_plane=control_plane, upstreams=groups))
    return path


def gateway(directory: Path, rendered: str) -> Path:
    """The chart's gateway nginx.conf (`rendered`) with its /tmp paths moved into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o777)  # nginx's workers (nobody) write their temp files here
    path = directory / "nginx.conf"
    path.write_text(rendered.replace("/tmp/", f"{directory}/").replace("/dev/stderr", str(directory / "error.log")))
    return path


def start(conf: Path, ns: str | None = None) -> Proc:
    """nginx in the foreground in `ns`; returns once it runs its worker (AssertionError with its log if not)."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    p = Proc("nginx", [binary, "-c", str(conf), "-p", str(conf.parent), "-g", "daemon off;"],
             conf.parent / "nginx.out", ns=ns)
    err = conf.parent / "error.log"
    p.name = f"nginx {conf.parent.name}"
    wait_until(lambda: not p.alive() or (err.exists() and "start worker process" in err.read_text()), 15, 0.1)
    assert p.alive() and err.exists(), p.tail() + (err.read_text()[-2000:] if err.exists() else "")
    assert p.alive(), p.tail() + (err.read_text()[-2000:] if err.exists() else "")
    return p


REGIONAL = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log info;
user root;
events {{ worker_connections 128; }}
http {{
    access_log {dir}/access.log;
    client_body_temp_path {dir}/body; proxy_temp_path {dir}/proxy; fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi; scgi_temp_path {dir}/scgi;
{servers}}}
"""

REGIONAL_SERVER = """\
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass {control_plane};
            proxy_bind {bind};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header {header} "{region}";
        }}
    }}
"""


def regional(directory: Path, *, control_plane: str, ingresses: Mapping[str, int], header: str, bind: str) -> Path:
    """Writes nginx.conf for the regional ingresses of docs/deploy.md ("Region hints"): one plain-HTTP server on
    127.0.0.1:<port> per region, each proxying to `control_plane` from the address `bind` (the control plane's
    trusted proxy) and *setting* `header` to its region, as `proxy_set_header` replaces what a client wrote."""
    directory.mkdir(parents=True, exist_ok=True)
    servers = "".join(REGIONAL_SERVER.format(port=port, control_plane=control_plane, bind=bind, header=header,
                                             region=region) for region, port in ingresses.items())
    path = directory / "nginx.conf"
    path.write_text(REGIONAL.format(dir=directory, servers=servers))
    return path
