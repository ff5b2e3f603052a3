"""nginx (Debian's) terminating TLS in front of the control plane and routing each node's signalling, as the
deployment guide describes (docs/deploy.md, "TLS"): `/node/<node id>/ws` to that node, everything else to the
control plane. Runs in the foreground (`daemon off`) with every path in a scratch directory."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
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
    server {{
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

NODE_LOCATION = """\
        location = /node/{node_id}/ws {{
            proxy_pass {upstream};
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 3600s;
        }}
"""


def config(directory: Path, *, cert: Path, key: Path, control_plane: str, nodes: Mapping[str, str],
           listen: str = "443", server_name: str = "_") -> Path:
    """Writes nginx.conf: TLS on `listen`, `/node/<id>/ws` -> nodes[id] (http://host:port), the rest ->
    `control_plane`."""
    directory.mkdir(parents=True, exist_ok=True)
    locations = "".join(NODE_LOCATION.format(node_id=n, upstream=u) for n, u in nodes.items())
    path = directory / "nginx.conf"
    path.write_text(CONF.format(dir=directory, listen=listen, server_name=server_name, cert=cert, key=key,
                                node_locations=locations, control_plane=control_plane))
    return path


def start(conf: Path, ns: str | None = None) -> Proc:
    """nginx in the foreground in `ns`; returns once it runs its worker (AssertionError with its log if not)."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    p = Proc("nginx", [binary, "-c", str(conf), "-p", str(conf.parent), "-g", "daemon off;"],
             conf.parent / "nginx.out", ns=ns)
    err = conf.parent / "error.log"
    wait_until(lambda: not p.alive() or (err.exists() and "start worker process" in err.read_text()), 15, 0.1)
    assert p.alive(), p.tail() + (err.read_text()[-2000:] if err.exists() else "")
    return p
