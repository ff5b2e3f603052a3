"""The `castellan` command.

    castellan control-plane --host H --port 8000 --db PATH [--redis-url URL] [--signing-key-dir DIR] [--public-url URL]
    castellan node ...        -> sfu.server:main(argv)
    castellan dev ...         -> signalling.cli.dev:main(argv)
    castellan audit ...       -> signalling.cli.audit:main(argv) (fetch; the rest: residency.cli)
    castellan residency verify MEETING --heads FILE   -> signalling.cli.residency:main(argv)
    castellan tenant create --tenant acme --name "ACME" --jurisdiction EU
    castellan admin-key create|list|revoke --tenant acme ...
    castellan link create --tenant acme --title "..." [--password P | --no-password] [--expires 2h]
                          [--max-participants N] [--lobby]
    castellan link list|show|revoke --tenant acme [LINK] [--end-meeting]
    castellan lockout list|clear --tenant acme ...        (needs --api: lockouts live in the running server)
    castellan keys rotate|show

`control-plane` bootstraps an operator key: CASTELLAN_OPERATOR_KEY (cak_<16 hex>.<secret>, e.g. from a deployment
secret) is registered if set; otherwise the first start creates one into <db dir>/operator.key (mode 0600), never
printed: if no file can take it, nothing is created and the process exits telling how to set the variable.

Admin commands act on the local database (`--db`, as the operator) or, with `--api URL --key KEY`, through the
admin API. Every flag also reads `CASTELLAN_<FLAG>` from the environment (e.g. CASTELLAN_DB, CASTELLAN_API).
`link create` generates the meeting's end-to-end secret here and puts it only in the URL's #fragment: it is never
sent to a server.

The package, one module per command group (the console script is `signalling.cli.entry:main`, also reachable as
`signalling.cli.main` and `python -m signalling.cli`):

    entry.py          main(argv): the top-level parser, the process commands' dispatch, the admin commands' run
    options.py        flags that also read CASTELLAN_<FLAG>; what every admin command shares (--db/--api, output)
    control_plane.py  `castellan control-plane`: the control plane process (operator key bootstrap)
    passthrough.py    `castellan node|dev|audit|residency`: their argv handed untouched to the module that owns them
    audit.py          `castellan audit fetch`: the tenant's held heads and pinned keys (docs/residency.md)
    residency.py      `castellan residency verify`: one meeting, offline
    dev.py            `castellan dev`: control plane + one media node in one process
    tenant.py, admin_key.py, link.py, lockout.py, keys.py: the admin command groups
"""

from __future__ import annotations

from .entry import main
from .link import e2ee_secret, parse_expires

__all__ = ["e2ee_secret", "main", "parse_expires"]
