"""A real PostgreSQL server for tests: Debian's binaries, a temporary cluster, a free loopback port.

:func:`postgres_server` runs ``initdb`` in a fresh temporary directory, starts the server with
``pg_ctl`` on 127.0.0.1 and a free port (its socket in that directory, so it never meets a
system cluster), yields a :class:`PostgresServer`, and stops the server and removes the
directory afterwards. PostgreSQL refuses to run as root, so as root the cluster belongs to the
``postgres`` system user that Debian's package creates.
"""
from __future__ import annotations

import contextlib
import dataclasses
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from typing import Iterator

SUPERUSER = "borderwatch"


def binaries() -> str | None:
    """The directory holding Debian's ``initdb`` and ``pg_ctl`` (newest version), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return os.path.dirname(found[-1])
    path = shutil.which("initdb")
    return os.path.dirname(path) if path else None


def missing_reason() -> str:
    return ("PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's postgresql "
            "package (`make postgres`, i.e. apt-get install postgresql)")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclasses.dataclass
class PostgresServer:
    bindir: str
    directory: str
    port: int
    run_as: str | None  # system user owning the cluster when the tests run as root

    @property
    def data(self) -> str:
        return os.path.join(self.directory, "data")

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [os.path.join(self.bindir, args[0]), *args[1:]]
        if self.run_as:
            # runuser lives in /usr/sbin, which a minimal PATH may leave out
            runuser = shutil.which("runuser", path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
            cmd = [runuser or "runuser", "-u", self.run_as, "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.directory)
        if proc.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1 "
                   "-c max_connections=200 -c fsync=off -c full_page_writes=off")
        self._run("pg_ctl", "-D", self.data, "-l", os.path.join(self.directory, "server.log"),
                  "-o", options, "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "-t", "60", "stop")

    def restart(self, pause: float = 0.0) -> None:
        """Stop the server (dropping every connection), optionally stay down a while, start again."""
        self.stop()
        time.sleep(pause)
        self.start()

    def create_database(self, prefix: str = "lake") -> str:
        """A new empty database; returns its URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.url(), autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def log(self) -> str:
        with contextlib.suppress(OSError):
            with open(os.path.join(self.directory, "server.log"), encoding="utf-8", errors="replace") as f:
                return f.read()
        return ""


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    bindir = binaries()
    if bindir is None:
        raise RuntimeError(missing_reason())
    run_as = None
    # a directory outside pytest's private (0700) temporary tree, so the cluster's user can enter it
    directory = tempfile.mkdtemp(prefix="borderwatch-pg-")
    if os.geteuid() == 0:
        run_as = "postgres"
        owner = pwd.getpwnam(run_as)
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    server = PostgresServer(bindir, directory, free_port(), run_as)
    try:
        server._run("initdb", "-D", server.data, "-A", "trust", "-U", SUPERUSER, "-E", "UTF8", "--no-sync")
        server.start()
        try:
            yield server
        finally:
            with contextlib.suppress(Exception):
                server.stop("immediate")
    finally:
        shutil.rmtree(directory, ignore_errors=True)
