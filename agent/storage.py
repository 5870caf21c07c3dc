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
        with os.fdopen(create_new(tmp), "wb") as f:
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


# The state folder is input like any other: nothing in it is followed when it is a symlink the agent did not
# make (a planted link would turn a write of ours into a write of someone else's file, a read into a leak).
NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


def create_new(path: str, mode: int = 0o640) -> int:
    """A file descriptor of a new file at PATH, made by us: a leftover (a crash's, or a planted link) is removed
    first, never written through."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW
    try:
        return os.open(path, flags, mode)
    except FileExistsError:
        os.unlink(path)  # a symlink is removed itself, never its target
        return os.open(path, flags, mode)


def read_bytes(path: str | Path, most: int = -1) -> bytes:
    """The bytes of PATH (at most MOST of them, when given), refused (OSError) when PATH is a symlink."""
    fd = os.open(path, os.O_RDONLY | NOFOLLOW)
    with os.fdopen(fd, "rb") as f:
        return f.read(most)


def read_json(path: str | Path, default):
    """The JSON in PATH, or DEFAULT when it is missing or unreadable (a state file is never worth a crash)."""
    try:
        return json.loads(read_bytes(path))
    except (OSError, ValueError):
        return default


def set_aside(path: str | Path, why: str) -> None:
    """A state file the agent cannot use is kept for a person to look at, as NAME.bad (the newest one only, so
    the folder stays bounded), and the agent goes on from its defaults; said once, in the log."""
    aside = f"{os.fspath(path)}.bad"
    try:
        os.replace(path, aside)
    except OSError as exc:
        log.warning("%s %s, and it cannot be moved aside (%s); it is ignored", path, why, exc.strerror or exc)
        return
    log.warning("%s %s; it is kept as %s and the agent starts from its defaults", path, why, aside)


def write_json(path: str | Path, obj, durable: bool = False) -> None:
    """Write OBJ as JSON atomically; DURABLE also makes it survive a power cut."""
    data = json.dumps(obj, sort_keys=True).encode()
    write_atomic(path, lambda f: f.write(data), durable)


MAX_STATE_BYTES = 1 << 20  # a small state file: anything larger was not written by the agent


class StateFile:
    """A small JSON state file with its defaults and its shape: read back with every default filled in, written
    whole and atomic, durable where the state must survive a power cut. A file of the wrong shape (another
    version's, a hand edit, a torn disk, a planted one) is set aside and the agent starts from the defaults: it
    never ends the daemon. DEFAULTS None: a free mapping (nonces, versions by device) with no fields. VALID
    checks what the types of the fields cannot say (the entries inside a mapping); it may raise."""

    def __init__(
        self,
        path: str | Path,
        defaults: dict | None = None,
        durable: bool = False,
        valid: Callable[[dict], bool] | None = None,
    ):
        self.path = Path(path)
        self.defaults = defaults
        self.durable = durable
        self.valid = valid

    def load(self) -> dict:
        data, why = self._read()
        if data is None and why is None:  # not there yet
            return copy.deepcopy(self.defaults or {})
        why = why or self._wrong(data)
        if why or not isinstance(data, dict):
            set_aside(self.path, why or "is not a JSON object")
            return copy.deepcopy(self.defaults or {})
        if self.defaults is None:
            return data
        return {key: copy.deepcopy(data.get(key, default)) for key, default in self.defaults.items()}

    def _read(self) -> tuple[object, str | None]:
        """(the JSON in the file, None), (None, None) when there is no file, or (None, what is wrong with it): a
        symlink, a folder where the file was, torn JSON, a file far larger than any state of ours."""
        try:
            raw = read_bytes(self.path, MAX_STATE_BYTES + 1)
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            return None, f"cannot be read ({exc.strerror or exc})"
        if len(raw) > MAX_STATE_BYTES:
            return None, f"is larger than {MAX_STATE_BYTES} bytes"
        try:
            return json.loads(raw), None
        except (ValueError, RecursionError):
            return None, "is not valid JSON"

    def _wrong(self, data: object) -> str | None:
        """What is wrong with DATA's shape, or None."""
        if not isinstance(data, dict):
            return "is not a JSON object"
        for key, default in (self.defaults or {}).items():
            if key in data and not _same_kind(data[key], default):
                return f"has {key} of the wrong kind ({type(data[key]).__name__})"
        try:
            ok = self.valid is None or self.valid(data)
        except Exception:  # noqa: BLE001 (a check that trips over the data has found it wrong)
            ok = False
        return None if ok else "has entries of the wrong shape"

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
        return read_bytes(path)
    except FileNotFoundError:
        pass
    data = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | NOFOLLOW, mode)
    except FileExistsError:
        return read_bytes(path)
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
        lines = [x for x in read_bytes(path).splitlines(keepends=True)[-keep:] if x.endswith(b"\n")]
        write_atomic(path, lambda f: f.writelines(lines))
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | NOFOLLOW, 0o640)
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
        data = read_bytes(path)
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
