"""glibc's allocator, asked to hand memory back to a small board (Debian and Raspberry Pi OS use glibc).

Without this the daemon's resident size grew with every report and never came back: a report's large
buffers (JSON, gzip, TLS) raise glibc's mmap threshold, after which such buffers come from the heap and
stay there in fragments, and every thread that allocates gets an arena of its own. So: two arenas, a fixed
mmap threshold (large buffers are mapped and unmapped whole), and a trim after each report.
"""

from __future__ import annotations

import ctypes
import functools
import logging

log = logging.getLogger(__name__)
M_MMAP_THRESHOLD, M_ARENA_MAX = -3, -8


@functools.cache
def _libc():
    try:
        libc = ctypes.CDLL(None)
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def settle() -> None:
    """Before the threads start: at most two arenas, buffers over 128 KiB mapped on their own."""
    libc = _libc()
    if libc is None:
        log.debug("not glibc: the allocator keeps its defaults")
        return
    libc.mallopt(M_ARENA_MAX, 2)
    libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024)


def give_back() -> None:
    """After a report: the build's garbage collected now (not when it has pinned fresh arenas), and free
    pages at the heaps' ends and inside them handed back to the kernel."""
    import gc

    gc.collect()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
