"""A real PostgreSQL server (Debian's `postgresql` package) as its own cluster in a temporary directory: initdb,
then `pg_ctl` on 127.0.0.1 and a free port, password (SCRAM) authentication, unix socket in the cluster's own
directory. As root (CI) the server runs as the `postgres` user the package creates (PostgreSQL refuses root).

Tests use it through `tests/fixtures/postgres.py`; benchmarks and developers can run it alone:

    .venv/bin/python -m tests.support.postgres /tmp/pg     # prints the URL; Ctrl-C stops and removes it
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.ports import free_port

USER = "castellan"


def bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin that has initdb (None: the server is not installed)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


class PostgresServer:
    def __init__(self, workdir: Path | None = None, fsync: bool = False, ns: str | None = None) -> None:
        binaries = bin_dir()
        if binaries is None:
            raise FileNotFoundError("PostgreSQL is not installed (scripts/setup.sh --test installs Debian's "
                                    "postgresql package)")
        self.bin = binaries
        self.own_dir = workdir is None
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="castellan-pg-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.data = self.dir / "data"
        self.password = secrets.token_urlsafe(18)
        self.fsync = fsync
        self.ns = ns  # a network namespace to run the server (and psql) in; its 127.0.0.1 is that namespace's
        self.port = 0
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
            self.dir.chmod(0o700)
        pwfile = self.dir / "pw"
        pwfile.write_text(self.password + "\n")
        if self._as_postgres:
            shutil.chown(pwfile, "postgres", "postgres")
        self._run([str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, "--auth=scram-sha-256",
                   f"--pwfile={pwfile}", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"])
        pwfile.unlink()

    def _run(self, argv: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        full = ["runuser", "-u", "postgres", "--", *argv] if self._as_postgres else argv
        full = self._in_ns(full)
        r = subprocess.run(full, capture_output=True, text=True, timeout=120, cwd=self.dir)
        if check and r.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:2])} failed ({r.returncode}): {r.stdout[-2000:]}{r.stderr[-2000:]}")
        return r

    def _in_ns(self, argv: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.ns, *argv] if self.ns else argv

    @property
    def url(self) -> str:
        return self.url_for(USER)

    def url_for(self, database: str) -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        """Starts on the same port as before, or a free one the first time (retried if another process took it)."""
        for _attempt in range(3):
            port = self.port or free_port()
            opts = (f"-c listen_addresses=127.0.0.1 -p {port} -k {self.dir} -c fsync={'on' if self.fsync else 'off'}"
                    f" -c synchronous_commit={'on' if self.fsync else 'off'} -c full_page_writes=off"
                    " -c max_connections=200")
            r = self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.dir / "server.log"),
                           "-o", opts, "-w", "-t", "60", "start"], check=False)
            if r.returncode == 0:
                first = not self.port
                self.port = port
                if first:
                    self.psql(f'CREATE DATABASE "{USER}"', database="postgres")
                return
            if self.port:  # restarting on its own port: that port must come back
                break
        raise RuntimeError(f"PostgreSQL did not start: {self.log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        self._run([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop"],
                  check=False)

    def restart(self) -> None:
        self.stop()
        self.start()

    def psql(self, sql: str, database: str = USER) -> str:
        env = {**os.environ, "PGPASSWORD": self.password}
        r = subprocess.run(self._in_ns([str(self.bin / "psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", USER, "-d",
                            database, "-v", "ON_ERROR_STOP=1", "-qAtc", sql]),
                           capture_output=True, text=True, timeout=60, env=env)
        if r.returncode != 0:
            raise RuntimeError(f"psql: {r.stderr.strip()}")
        return r.stdout

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def log_tail(self, n: int = 3000) -> str:
        try:
            return (self.dir / "server.log").read_text(errors="replace")[-n:]
        except OSError:
            return ""

    def remove(self) -> None:
        self.stop("immediate")
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)


def main() -> int:
    server = PostgresServer(Path(sys.argv[1]) if len(sys.argv) > 1 else None)
    server.start()
    print(server.url, flush=True)
    try:
        signal.sigwait({signal.SIGINT, signal.SIGTERM})
    finally:
        server.remove()
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    raise SystemExit(main())
