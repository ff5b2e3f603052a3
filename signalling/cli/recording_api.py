"""`castellan recording ACTION --api URL`: the recording actions through the control plane's admin API, making
the very requests the console makes (docs/recording.md, "Admin API"). A tenant admin needs the URL and an admin
key — never the database, the volume or the tenant keys — and each action is audited by the control plane with
the key's identity (`admin-key:<id>`) as the actor.

The key comes from `--key-file FILE` (env CASTELLAN_KEY_FILE), else `--key` (as the other admin commands take
it; a key on the command line is in the shell's history and `ps`), else CASTELLAN_KEY. It is sent as
`Authorization: Bearer` to that URL only: redirects are refused (urllib would carry the header to wherever
they point), and a media download under a play ticket goes without it, as the console's player does.

A refusal of the API is printed as `castellan recording ACTION: refused (HTTP 409 legal_hold): <its message>`
(and the holds it names) with exit status 1; a usage error exits 2. Downloads go to a file created new (mode 0600, the
plaintext of a recording) through a temporary name, so a refused or cut download leaves nothing behind.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from signalling.control.client import RedirectRefused, key_safe_opener

from .options import failed, human_times

CHUNK = 1 << 20


class Usage(Exception):
    """A command line that cannot be sent (exit 2)."""


class Refused(Exception):
    """The control plane's refusal (or no answer at all: status 0)."""

    def __init__(self, status: int, code: str, message: str, holds: list[str] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status, self.code, self.message, self.holds = status, code, message, holds or []

    def __str__(self) -> str:
        where = f"HTTP {self.status} {self.code}" if self.status else self.code
        return f"refused ({where}): {self.message}" + (f" [holds: {', '.join(self.holds)}]" if self.holds else "")


def segment(value: str, what: str) -> str:
    """One path segment of the API (a tenant, recording, file, hold or participant id): never a way to another
    endpoint ("/" is escaped, "." and ".." refused here; the server checks each id's form too)."""
    if value in ("", ".", ".."):
        raise Usage(f"{what} {value!r} is not an id")
    return urllib.parse.quote(value, safe="")


def read_key(args: argparse.Namespace) -> str:
    if args.key_file:
        try:
            key = Path(args.key_file).read_text().strip()
        except OSError as e:
            raise Usage(f"--key-file {args.key_file}: {e.strerror or e}") from None
        if not key or "\n" in key:
            raise Usage(f"--key-file {args.key_file}: expected one admin key (cak_…) on one line")
        return key
    given = str(args.key or os.environ.get("CASTELLAN_KEY") or "").strip()
    if not given:
        raise Usage("--api needs an admin key: --key-file FILE, or the environment variable CASTELLAN_KEY")
    return given


class RecordingsApi:
    """The admin API's recording endpoints for one tenant, as the console calls them."""

    def __init__(self, base: str, key: str, tenant: str, timeout: float = 120.0) -> None:
        url = urllib.parse.urlsplit(base)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise Usage(f"--api {base!r}: expected an http:// or https:// URL")
        if url.scheme == "http" and url.hostname not in ("127.0.0.1", "::1", "localhost"):
            print(f"castellan recording: warning: {base} is plain http: the admin key and the recording travel "
                  "unencrypted", file=sys.stderr)
        self.base = base.rstrip("/")
        self.key = key
        self.tenant = segment(tenant, "tenant")
        self.timeout = timeout
        self.opener = key_safe_opener()

    def path(self, *parts: str) -> str:
        return f"/v1/tenants/{self.tenant}/" + "/".join(parts)

    @contextmanager
    def _open(self, method: str, path: str, body: dict[str, Any] | None = None,
              bearer: bool = True) -> Iterator[IO[bytes]]:
        headers = {"Accept": "application/json"}
        if bearer:
            headers["Authorization"] = f"Bearer {self.key}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=headers)
        try:
            r = self.opener.open(req, timeout=self.timeout)
        except RedirectRefused as e:
            raise Refused(e.code, "redirect_refused", f"{e} (use that URL with --api)") from None
        except urllib.error.HTTPError as e:
            raise _refusal(e) from None
        except (urllib.error.URLError, OSError) as e:
            raise Refused(0, "unreachable", f"the control plane at {self.base} cannot be reached: "
                                            f"{getattr(e, 'reason', e)}") from None
        with r:
            yield r

    def json(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        with self._open(method, path, body) as r:
            return json.loads(r.read())

    def download(self, path: str, dest: Path, bearer: bool = True, method: str = "GET",
                 body: dict[str, Any] | None = None) -> int:
        """The answer's body into `dest` (a new file, 0600); nothing is left at `dest` if it fails."""
        with self._open(method, path, body, bearer) as r, new_file(dest) as out:
            n = 0
            while chunk := r.read(CHUNK):
                out.write(chunk)
                n += len(chunk)
            return n


def _refusal(e: urllib.error.HTTPError) -> Refused:
    try:
        err = json.loads(e.read())
    except (ValueError, OSError):
        return Refused(e.code, "http_error", f"HTTP {e.code} {e.reason}")
    if not isinstance(err, dict):
        return Refused(e.code, "http_error", f"HTTP {e.code} {e.reason}")
    holds = err.get("holds")
    return Refused(e.code, str(err.get("error", "http_error")), str(err.get("message", e.reason)),
                   [str(h) for h in holds] if isinstance(holds, list) else None)


@contextmanager
def new_file(dest: Path) -> Iterator[IO[bytes]]:
    """A file written under a temporary name beside `dest`, renamed to it when complete; `dest` must not exist
    (nothing is overwritten), and its mode is 0600 (a recording's plaintext)."""
    if dest.exists():
        raise FileExistsError(f"{dest} exists (nothing is overwritten)")
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.link(tmp, dest)  # fails if dest appeared meanwhile: never replaces a file
    finally:
        os.unlink(tmp)


def _unpack(tar: Path, top: str, dest: Path) -> None:
    """The tar's one directory `top/` becomes `dest`. The tar comes over the network: tarfile's "data" filter
    refuses absolute names, `..`, links out of it and special files; anything beside `top/` is refused."""
    if dest.exists():
        raise Usage(f"{dest} exists (nothing is overwritten)")
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        with tarfile.open(tar) as t:
            for m in t.getmembers():
                if m.name != top and not m.name.startswith(top + "/"):
                    raise Refused(0, "bad_package", f"the control plane's tar holds {m.name!r}, outside {top}/")
            t.extractall(work, filter="data")
        os.rename(work / top, dest)
    except (tarfile.TarError, OSError) as e:
        raise Refused(0, "bad_package", f"the control plane's tar cannot be unpacked: {e}") from None
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _fetch_tar(api: RecordingsApi, path: str, top: str, out: Path) -> dict[str, Any]:
    """`--out X.tar`: the tar as sent; any other `--out`: the directory in it, unpacked there (what the
    database mode writes, so `castellan recording verify` takes it)."""
    if out.suffix == ".tar":
        return {"tar": str(out), "bytes": api.download(path, out)}
    if out.exists():
        raise Usage(f"{out} exists (nothing is overwritten)")
    work = Path(tempfile.mkdtemp(prefix=".castellan-", dir=out.parent))
    try:
        n = api.download(path, work / f"{top}.tar")
        _unpack(work / f"{top}.tar", top, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"directory": str(out), "bytes": n}


def _recording(api: RecordingsApi, rec: str) -> dict[str, Any]:
    for r in api.json("GET", api.path("recordings"))["recordings"]:
        if r["id"] == rec:
            return dict(r)
    raise Refused(404, "not_found", f"no recording {rec} in this tenant")


def _policy(api: RecordingsApi, args: argparse.Namespace) -> Any:
    if args.link:
        if args.retention_days is not None:
            raise Usage("--retention-days is the tenant's (a link's own retention is set with --db only)")
        return api.json("PUT", api.path("links", segment(args.link, "link"), "recording-policy"),
                        {"policy": args.policy})
    body: dict[str, Any] = {"policy": args.policy}
    if args.retention_days is not None:
        body["retention_days"] = args.retention_days
    return api.json("PUT", api.path("recording-policy"), body)


def _download_file(api: RecordingsApi, args: argparse.Namespace) -> Any:
    """One audio or video file, as the console's player gets it: a play ticket (its grant audited), then the
    ticket's URL, which needs no key and gets none."""
    rec, name = segment(args.recording, "recording"), segment(args.file, "file")
    t = api.json("POST", api.path("recordings", rec, "files", name, "play"), {})
    url = str(t["url"])
    if not url.startswith(f"/v1/tenants/{api.tenant}/recordings/"):  # the ticket's media path on this server
        raise Refused(0, "bad_answer", f"unexpected media URL {url!r}")
    n = api.download(url, Path(args.out), bearer=False)
    return {"file": args.file, "recording": args.recording, "out": args.out, "bytes": n,
            "content_type": t.get("content_type")}


ACTIONS: dict[str, Callable[[RecordingsApi, argparse.Namespace], Any]] = {
    "list": lambda api, a: api.json("GET", api.path("recordings")),
    "show": lambda api, a: _recording(api, a.recording),
    "policy": _policy,
    "hold": lambda api, a: api.json("POST", api.path("recording-holds"),
                                    {"scope": a.scope, "reason": a.reason,
                                     **({"target": a.target} if a.target else {})}),
    "holds": lambda api, a: api.json("GET", api.path("recording-holds")),
    "release": lambda api, a: api.json("POST", api.path("recording-holds", segment(a.hold, "hold"), "release"), {}),
    "delete": lambda api, a: api.json("DELETE", api.path("recordings", segment(a.recording, "recording"))),
    "retention": lambda api, a: api.json("POST", api.path("recording-retention", "apply"), {}),
    "export": lambda api, a: _fetch_tar(api, api.path("recordings", segment(a.recording, "recording"), "export"),
                                        a.recording, Path(a.out)),
    "download": _download_file,
    "subject-export": lambda api, a: _fetch_tar(
        api, api.path("recording-subjects", segment(a.participant, "participant"), "export"),
        f"subject-{a.participant}", Path(a.out)),
    "subject-erase": lambda api, a: api.json("POST", api.path("recording-subjects",
                                                              segment(a.participant, "participant"), "erase"), {}),
}


def run(args: argparse.Namespace) -> int:
    try:
        api = RecordingsApi(args.api, read_key(args), args.tenant)
        out = ACTIONS[args.action](api, args)
    except Usage as e:
        return failed(f"castellan recording: {e}", 2)
    except Refused as e:
        return failed(f"castellan recording {args.action}: {e}")
    except OSError as e:  # the answer cut off, or the file could not be written
        return failed(f"castellan recording {args.action}: failed: {e}")
    print(json.dumps(out if args.json else human_times(out), indent=1, sort_keys=True, ensure_ascii=False))
    return 0
