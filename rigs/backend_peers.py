"""The backend's real peers for the tests, the demo and the bench: Debian's PostgreSQL in a temporary folder
on a free loopback port, and the django-helpdesk site on it (helpdesk_serve.py), with the accounts the
intake and support log in with.

PostgreSQL refuses to run as root: as root it runs as the `postgres` account Debian's package made."""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rigs import peers


def _postgres_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise peers.PeerError("PostgreSQL is not installed: scripts/setup.sh installs Debian's postgresql")
    return found[-1]


def _as_owner(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


@dataclass
class Postgres:
    peer: peers.Peer
    folder: Path
    port: int

    def url(self, db: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def create(self, db: str, template: str | None = None) -> str:
        """A new database DB (a copy of TEMPLATE); returns its URL."""
        sql = f'CREATE DATABASE "{db}"' + (f' TEMPLATE "{template}"' if template else "")
        self.psql(sql)
        return self.url(db)

    def psql(self, sql: str, db: str = "postgres") -> str:
        return subprocess.run(
            ["psql", "-X", "-q", "-At", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", db, "-c", sql],
            check=True,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout

    def stop(self) -> None:
        self.peer.stop(10)
        shutil.rmtree(self.folder, ignore_errors=True)


def start_postgres() -> Postgres:
    """A fresh cluster (trust on loopback only) in a folder of its own, stopped and removed by stop()."""
    folder = Path(tempfile.mkdtemp(prefix="diag-pg-"))
    os.chmod(folder, 0o755)  # the postgres account reaches its data folder
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    subprocess.run(
        _as_owner([_postgres_bin("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"]),
        check=True,
        capture_output=True,
        timeout=120,
    )
    port = peers.free_port()
    argv = [_postgres_bin("postgres"), "-D", str(data), "-p", str(port), "-k", str(folder)]
    argv += ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"]
    peer = peers.spawn("postgres", _as_owner(argv), folder / "log")
    pg = Postgres(peer, folder, port)

    def ready():
        if not peer.alive():
            raise peers.PeerError(f"PostgreSQL did not start; its log {peer.log} ends with:\n{peer.log_tail()}")
        return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port)], timeout=10).returncode == 0

    peers.wait_for(ready, 60, "PostgreSQL to take connections", 0.1)
    return pg


@dataclass
class Helpdesk:
    peer: peers.Peer
    url: str
    intake_token: str  # the intake's API token (DIAG_HELPDESK_TOKEN of `serve`)
    support_token: str  # a support person's API token (DIAG_HELPDESK_TOKEN of the command line)
    support_password: str  # and their login at the helpdesk's pages (user `support`)

    def api(self, path: str, method: str = "GET", token: str | None = None, **kw):
        import requests

        headers = {"Authorization": f"Token {token or self.support_token}"}
        r = requests.request(method, f"{self.url}api/{path}", headers=headers, timeout=30, **kw)
        r.raise_for_status()
        return r.json()

    def stop(self) -> None:
        self.peer.stop(10)


def migrate_helpdesk(workdir: Path, db_url: str) -> None:
    """The helpdesk's tables in DB_URL (a template the tests copy: migrating takes a while)."""
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="backend.helpdesk.site.settings", HELPDESK_SITE_DB=db_url)
    env["HELPDESK_SITE_DIR"] = str(workdir)
    argv = [sys.executable, "-m", "backend.helpdesk.serve", "--dir", str(workdir), "--db", db_url]
    subprocess.run(
        argv + ["--migrate-only"],
        check=True,
        capture_output=True,
        timeout=600,
        env=env,
    )


def start_helpdesk(workdir: Path, db_url: str, webhook: str | None = None, ca: str | None = None) -> Helpdesk:
    """The django-helpdesk site on DB_URL; WEBHOOK: the intake's address for its webhooks (CA: the intake's
    certificate authority, for requests in the helpdesk to trust)."""
    intake, support, password = (secrets.token_hex(20) for _ in range(3))
    env = dict(os.environ, DIAG_HELPDESK_INTAKE_TOKEN=intake, DIAG_HELPDESK_SUPPORT_TOKEN=support)
    env["DIAG_HELPDESK_SUPPORT_PASSWORD"] = password
    if ca:
        env["REQUESTS_CA_BUNDLE"] = ca
    argv = [sys.executable, "-m", "backend.helpdesk.serve", "--dir", str(workdir / "helpdesk-site")]
    argv += ["--db", db_url] + (["--webhook", webhook] if webhook else [])
    peer = peers.spawn("helpdesk", argv, workdir, ready_line=True, timeout=300, env=env)
    return Helpdesk(peer, peer.info["url"], intake, support, password)
