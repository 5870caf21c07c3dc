"""The box itself: load, memory, the data partition, SoC temperature, uptime, processes, clock sync."""

from __future__ import annotations

import ctypes
import os
import subprocess
import time
from pathlib import Path

THERMAL = Path("/sys/class/thermal")


class _Timex(ctypes.Structure):
    # struct timex from <sys/timex.h>; only the fields we read are named.
    _fields_ = [
        ("modes", ctypes.c_uint),
        ("offset", ctypes.c_long),
        ("freq", ctypes.c_long),
        ("maxerror", ctypes.c_long),
        ("esterror", ctypes.c_long),
        ("status", ctypes.c_int),
        ("constant", ctypes.c_long),
        ("precision", ctypes.c_long),
        ("tolerance", ctypes.c_long),
        ("time_sec", ctypes.c_long),
        ("time_usec", ctypes.c_long),
        ("tick", ctypes.c_long),
        ("ppsfreq", ctypes.c_long),
        ("jitter", ctypes.c_long),
        ("shift", ctypes.c_int),
        ("stabil", ctypes.c_long),
        ("jitcnt", ctypes.c_long),
        ("calcnt", ctypes.c_long),
        ("errcnt", ctypes.c_long),
        ("stbcnt", ctypes.c_long),
        ("tai", ctypes.c_int),
        ("_reserved", ctypes.c_int * 11),
    ]


TIME_ERROR = 5  # adjtimex: the clock is not synchronised
TIMESYNC_FLAG = Path("/run/systemd/timesync/synchronized")  # systemd-timesyncd makes it once it has synchronised


def clock_synced() -> bool | None:
    """Whether the clock is NTP-synchronised; None when nothing can tell. The kernel's word first (adjtimex,
    read-only). The shipped unit's ProtectClock=yes refuses adjtimex even for reading: then systemd-timesyncd's
    flag file, then timedated's NTPSynchronized property (timedatectl, over D-Bus), which reads the kernel's
    state from outside our sandbox and answers for chrony or ntpd too."""
    kernel = _adjtimex()
    if kernel is not None:
        return kernel
    if TIMESYNC_FLAG.exists():
        return True
    try:
        out = subprocess.run(
            ["timedatectl", "show", "--property=NTPSynchronized", "--value"], capture_output=True, text=True, timeout=3
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return {"yes": True, "no": False}.get(out.stdout.strip()) if out.returncode == 0 else None


def _adjtimex() -> bool | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # libc is in the process already
        tx = _Timex()
        state = libc.adjtimex(ctypes.byref(tx))
    except (OSError, AttributeError):
        return None
    if state < 0:
        return None
    return state != TIME_ERROR


def soc_temperatures() -> dict[str, float]:
    """Degrees Celsius by thermal zone type (the Pi's SoC is cpu-thermal)."""
    temps: dict[str, float] = {}
    for zone in sorted(THERMAL.glob("thermal_zone*")):
        try:
            kind = (zone / "type").read_text().strip()
            temps[kind or zone.name] = int((zone / "temp").read_text()) / 1000.0
        except (OSError, ValueError):
            continue
    return temps


def recent_boots(limit: int = 5) -> list[dict] | None:
    """Boots the journal remembers, newest last; None when there is no persistent journal."""
    try:
        out = subprocess.run(
            ["journalctl", "--list-boots", "--no-pager", "-q"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    boots = []
    for line in out.stdout.splitlines()[-limit:]:
        parts = line.split(None, 2)
        if len(parts) == 3:
            boots.append({"index": parts[0], "boot_id": parts[1], "span": parts[2]})
    return boots


def top_processes(n: int = 5) -> list[dict]:
    import psutil

    procs = []
    for p in psutil.process_iter(["pid", "name", "memory_info", "cpu_times"]):
        info = p.info
        if info.get("memory_info") is None:
            continue
        cpu = info["cpu_times"]
        procs.append(
            {
                "pid": info["pid"],
                "name": info["name"],
                "rss_kb": info["memory_info"].rss // 1024,
                "cpu_s": round(cpu.user + cpu.system, 1) if cpu else None,
            }
        )
    procs.sort(key=lambda p: p["rss_kb"], reverse=True)
    return procs[:n]


def collect_system(data_dir: str) -> dict:
    """The box, probe by probe: a call the kernel or a sandbox refuses marks its one value unavailable."""
    import psutil

    from agent.health.probe import probe

    missing: dict[str, str] = {}
    mem = probe(missing, "memory", psutil.virtual_memory)
    swap = probe(missing, "swap", psutil.swap_memory)
    # The state folder may not exist yet: the partition it will live on is what counts.
    where = Path(data_dir)
    while not where.exists() and where != where.parent:
        where = where.parent
    try:
        disk = psutil.disk_usage(str(where))
        disk_info = {
            "path": data_dir,
            "total_mb": disk.total >> 20,
            "free_mb": disk.free >> 20,
            "used_percent": disk.percent,
        }
    except OSError as exc:
        disk_info = {"path": data_dir, "error": exc.strerror}
    boot = probe(missing, "boot_time", psutil.boot_time)
    temps = probe(missing, "temperatures", soc_temperatures, {})
    return {
        "load_average": probe(missing, "load_average", lambda: [round(x, 2) for x in os.getloadavg()]),
        "cpu_count": os.cpu_count(),
        "cpu_percent": probe(missing, "cpu_percent", lambda: psutil.cpu_percent(interval=None)),
        "memory": {
            "total_mb": mem.total >> 20,
            "available_mb": mem.available >> 20,
            "used_percent": mem.percent,
            "swap_used_percent": swap.percent if swap else None,
        }
        if mem
        else {"used_percent": None},
        "disk": disk_info,
        "temperatures_c": temps,
        "soc_temperature_c": max(temps.values()) if temps else None,
        "boot_time": boot,
        "uptime_s": round(time.time() - boot) if boot else None,
        "clock_synced": probe(missing, "clock_synced", clock_synced),
        "recent_boots": probe(missing, "recent_boots", recent_boots),
        "top_processes": probe(missing, "top_processes", top_processes, []),
        "unavailable": missing,
    }
