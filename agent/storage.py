"""Small state files written so that a power cut leaves the old version or the new one, never half."""

from __future__ import annotations

import json
import os
from pathlib import Path


def read_json(path: str | Path, default):
    """The JSON in PATH, or DEFAULT when it is missing or unreadable (a state file is never worth a crash)."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return default


def write_json(path: str | Path, obj, durable: bool = False) -> None:
    """Write OBJ as JSON under a temporary name and rename it into place; DURABLE also fsyncs the file."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as f:
        json.dump(obj, f)
        if durable:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)
