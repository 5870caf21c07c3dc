"""Files written so that a power cut leaves the old version or the new one, never half of either; and the
one way to append to a log of JSON lines (each line synced, a line a power cut broke off never read)."""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

TMP_SUFFIX = ".tmp"
log = logging.getLogger(__name__)


def fsync_dir(path: str | Path) -> None:
    """Make a rename in PATH durable: the directory entry itself must reach the disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(
    path: str | Path, write: Callable[[BinaryIO], object], durable: bool = True, sync_folder: bool = True
) -> None:
    """Call WRITE on a temporary file next to PATH, then rename it into place.

    DURABLE fsyncs the file before the rename and (unless SYNC_FOLDER is false, because a later write
    in the same folder will) the folder after it, so the new version survives a power cut once this
    returns; without it the file is still never half-written.
    """
    path = os.fspath(path)  # strings, not Path objects: pathlib interns the name of every file it parses
    tmp = path + TMP_SUFFIX
    try:
        with open(tmp, "wb") as f:
            write(f)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    if durable and sync_folder:
        fsync_dir(os.path.dirname(path) or ".")


def read_json(path: str | Path, default):
    """The JSON in PATH, or DEFAULT when it is missing or unreadable (a state file is never worth a crash)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return default


def write_json(path: str | Path, obj, durable: bool = False) -> None:
    """Write OBJ as JSON atomically; DURABLE also makes it survive a power cut."""
    data = json.dumps(obj, sort_keys=True).encode()
    write_atomic(path, lambda f: f.write(data), durable)


class StateFile:
    """A small JSON state file with its defaults: read back with every default filled in, a value of the wrong
    type replaced by its default (a file from another version, a hand edit or a torn disk never ends the
    daemon, and a bad value is said once in the log), written whole and atomic, durable where the state must
    survive a power cut. DEFAULTS None: a free mapping (nonces, versions by device) with no fields to check."""

    def __init__(self, path: str | Path, defaults: dict | None = None, durable: bool = False):
        self.path, self.defaults, self.durable = Path(path), defaults, durable

    def load(self) -> dict:
        data = read_json(self.path, {})
        if not isinstance(data, dict):
            log.warning("%s is not a JSON object; it starts afresh", self.path)
            data = {}
        if self.defaults is None:
            return data
        out = {}
        for key, default in self.defaults.items():
            value = data.get(key, default)
            if not _same_kind(value, default):
                log.warning("%s: %s is %r, not what it should be; it starts from %r", self.path, key, value, default)
                value = default
            out[key] = copy.deepcopy(value)
        return out

    def save(self, data: dict) -> None:
        """Write DATA whole; raises OSError (a full disk) for the caller to decide what it costs."""
        write_json(self.path, data, durable=self.durable)


def _same_kind(value, default) -> bool:
    if default is None:
        return True
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(default, bool)
    if isinstance(default, (int, float)):
        return isinstance(value, (int, float))
    return isinstance(value, type(default))


def create_once(path: str | Path, make: Callable[[], bytes], mode: int = 0o600) -> bytes:
    """The bytes in PATH; when it does not exist yet, MAKE them and write them durably, exactly once
    even when two threads or processes race (the loser reads the winner's file)."""
    path = Path(path)
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    data = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    return data


def append_line(path: str | Path, line: bytes, max_bytes: int, keep: int) -> None:
    """LINE (one JSON line, with its newline) at the end of PATH, synced. Past MAX_BYTES the file is first
    rewritten with its KEEP newest whole lines; a line a power cut left unfinished is ended before LINE."""
    path = os.fspath(path)
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        size = 0
    if size > max_bytes:
        with open(path, "rb") as f:
            lines = [x for x in f.read().splitlines(keepends=True)[-keep:] if x.endswith(b"\n")]
        write_atomic(path, lambda f: f.writelines(lines))
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        end = os.fstat(fd).st_size
        if end and os.pread(fd, 1, end - 1) != b"\n":  # a line a power cut left unfinished: start afresh
            line = b"\n" + line
        os.write(fd, line)
        os.fdatasync(fd)
    finally:
        os.close(fd)


def read_lines(path: str | Path, keep: int) -> list:
    """The KEEP newest JSON lines of PATH, decoded; a line cut short by a power cut (the last one) is left out."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return []
    out = []
    for line in data.splitlines(keepends=True)[-keep:]:
        try:
            if line.endswith(b"\n"):
                out.append(json.loads(line))
        except ValueError:
            continue
    return out
