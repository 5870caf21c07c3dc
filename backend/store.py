"""The intake's database: cases (each a JSON document, locked while it changes), report ids (the one thing
that makes a retry the same case, however many workers race for it), and support's notes already taken.

One schema, two engines: SQLite in the store folder for a single intake (the demo), PostgreSQL for workers
that scale out. Whatever a transaction changes, it changes whole or not at all."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS cases (number TEXT PRIMARY KEY, box TEXT NOT NULL, state TEXT NOT NULL,"
    " version INTEGER NOT NULL, received DOUBLE PRECISION NOT NULL, doc TEXT NOT NULL)",
    # A report id is claimed once: the second worker's INSERT waits for the first's transaction, then finds
    # the row (PostgreSQL's unique index; SQLite's one writer) and answers with the same receipt.
    "CREATE TABLE IF NOT EXISTS reports (report_id TEXT PRIMARY KEY, number TEXT, receipt TEXT)",
    # Staff follow-ups from the helpdesk taken into a case, each once.
    "CREATE TABLE IF NOT EXISTS notes (desk_id TEXT PRIMARY KEY, number TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)",
)


class Db:
    """URL: `sqlite:PATH` or `postgresql://...` (psycopg 3)."""

    def __init__(self, url: str):
        self.url = url
        self.postgres = url.startswith(("postgresql:", "postgres:"))
        if not self.postgres and not url.startswith("sqlite:"):
            raise ValueError(f"database URL: expected sqlite:PATH or postgresql://..., not {url.split(':')[0]!r}")
        self._local = threading.local()
        with self.tx() as t:
            for statement in SCHEMA:
                t.run(statement)

    def _connect(self):
        if self.postgres:
            import psycopg

            return psycopg.connect(self.url)
        path = self.url.removeprefix("sqlite:")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        return conn

    @contextmanager
    def tx(self) -> Iterator[Tx]:
        """One transaction on this thread's connection: committed at the end, rolled back on an error."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self._connect()
        if not self.postgres:
            conn.execute("BEGIN IMMEDIATE")  # SQLite: one writer at a time, from the start
        try:
            yield Tx(conn, self.postgres)
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None


class Tx:
    def __init__(self, conn, postgres: bool):
        self.conn, self.postgres = conn, postgres

    def run(self, sql: str, args: tuple = ()) -> list[tuple]:
        if self.postgres:
            sql = sql.replace("?", "%s")
        else:
            sql = sql.replace(" FOR UPDATE", "")  # BEGIN IMMEDIATE holds the whole file already
        cur = self.conn.execute(sql, args)
        rows = cur.fetchall() if cur.description else []
        self.rowcount = cur.rowcount
        return rows

    # --- report ids -----------------------------------------------------------------------------
    def claim(self, report_id: str) -> dict | None:
        """Claims REPORT_ID for this transaction; None when it is new, else the receipt it was given."""
        self.run("INSERT INTO reports (report_id) VALUES (?) ON CONFLICT DO NOTHING", (report_id,))
        if self.rowcount == 1:
            return None
        ((receipt,),) = self.run("SELECT receipt FROM reports WHERE report_id = ?", (report_id,))
        return json.loads(receipt)

    def receipt(self, report_id: str, number: str, receipt: dict) -> None:
        self.run(
            "UPDATE reports SET number = ?, receipt = ? WHERE report_id = ?", (number, json.dumps(receipt), report_id)
        )

    def take_note(self, desk_id: str, number: str) -> bool:
        """True the first time a staff follow-up is taken into a case, by whichever worker."""
        self.run("INSERT INTO notes (desk_id, number) VALUES (?, ?) ON CONFLICT DO NOTHING", (desk_id, number))
        return self.rowcount == 1

    def next_number(self, name: str) -> int:
        self.run("INSERT INTO counters (name, value) VALUES (?, 0) ON CONFLICT DO NOTHING", (name,))
        ((value,),) = self.run("UPDATE counters SET value = value + 1 WHERE name = ? RETURNING value", (name,))
        return value

    # --- cases ------------------------------------------------------------------------------------
    def case(self, number: str, lock: bool = True) -> dict | None:
        rows = self.run("SELECT doc FROM cases WHERE number = ?" + (" FOR UPDATE" if lock else ""), (number,))
        return json.loads(rows[0][0]) if rows else None

    def save(self, case: dict, new: bool = False) -> None:
        args = (case["box"], case["state"], case["version"], json.dumps(case), case["case"])
        if new:
            self.run(
                "INSERT INTO cases (box, state, version, doc, number, received) VALUES (?, ?, ?, ?, ?, ?)",
                (*args, case["received"]),
            )
        else:
            self.run("UPDATE cases SET box = ?, state = ?, version = ?, doc = ? WHERE number = ?", args)

    def cases(self, where: str = "", args: tuple = ()) -> list[dict]:
        rows = self.run(f"SELECT doc FROM cases {where} ORDER BY received, number", args)
        return [json.loads(doc) for (doc,) in rows]

    def versions(self) -> dict[str, int]:
        return dict(self.run("SELECT number, version FROM cases"))
