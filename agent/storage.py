"""Files written so that a power cut leaves the old version or the new one, never half of either."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import BinaryIO, Callable

TMP_SUFFIX = ".tmp"


def fsync_dir(path: str | Path) -> None:
    """Make a rename in PATH durable: the directory entry itself must reach the disk."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: str | Path, write: Callable[[BinaryIO], None], durable: bool = True,
                 sync_folder: bool = True) -> None:
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
