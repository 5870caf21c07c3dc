"""The flight recorder: what the box saw before a power cut, a watchdog restart or a crash survives it.

In STATE/recorder/ (each file written whole and synced, as the outbox does, except the timeline's appends,
which are synced line by line and read back up to the last whole line):
  run.json            this run: its boot, when it started, and at an orderly stop `clean: true`
  abort.txt           the threads' stacks, written by faulthandler on SIGABRT (systemd's watchdog) or SIGSEGV
  timeline.jsonl      every timeline event as it happens
  history.ckpt.gz     the last hour at full rate and the day's buckets, every `checkpoint_s` and at stop
  windows/            for each fault, its devices' full-rate readings from `fault_before_s` before it to
                      `fault_after_s` after it: written the moment it is raised, again when complete
At start the last stop is judged (orderly, watchdog, power loss, crash) and becomes an event of its own;
the timeline and the history come back, marked as from before the restart.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from agent.clock import boot_id
from agent.clock import wall as wall_clock
from agent.config import RecorderConfig
from agent.paths import state_path
from agent.storage import append_line, read_json, read_lines, write_atomic, write_json
from agent.worker import Worker

log = logging.getLogger(__name__)
TIMELINE_MAX_BYTES = 256 * 1024  # then the file is rewritten with the newest events the ring holds


def judge_last_stop(previous: dict | None, abort_dump: str, boot: str) -> tuple[str, str] | None:
    """(kind, words) for how the last run ended, or None on the first start."""
    if not previous:
        return None
    if previous.get("clean"):
        return "orderly", "the agent was stopped in order"
    if abort_dump.strip():  # faulthandler's words: "Fatal Python error: Aborted" is systemd's watchdog
        current = abort_dump.split("Current thread", 1)[-1]  # its frames follow, the innermost first
        where = [line.strip() for line in current.splitlines() if line.strip().startswith("File ")]
        at = f"; it was at {where[0]}" if where else ""
        if "Aborted" in abort_dump:
            return "watchdog", f"the agent hung and systemd's watchdog ended it (SIGABRT){at}"
        return "crash", f"the agent crashed ({abort_dump.strip().splitlines()[0][:120]}){at}"
    if previous.get("boot_id") and boot and previous["boot_id"] != boot:
        return "power_loss", "the box restarted without the agent stopping: a power cut, a brown-out or a hard reset"
    return "crash", "the agent ended without stopping: killed (kill -9, the kernel's out-of-memory killer) or crashed"


class WindowStore:
    """The fault windows on disk: one gzip'ed JSON each, and index.json (newest last) within the quota."""

    def __init__(self, folder: Path, keep: int, max_bytes: int, scrub: Callable[[dict], dict] = lambda r: r):
        self.folder = folder
        self.keep = keep
        self.max_bytes = max_bytes
        self._scrub = scrub  # a window goes into every report while it is kept: no secret is written down
        self._lock = threading.Lock()

    def write(self, record: dict, series: dict) -> None:
        import gzip

        clean = self._scrub(dict(record, series=series))
        body = json.dumps(clean, separators=(",", ":"), sort_keys=True).encode()
        write_atomic(self.folder / record["file"], lambda f: f.write(gzip.compress(body, 6)))
        with self._lock:
            index = [e for e in self.index() if e["file"] != record["file"]] + [record]
            index.sort(key=lambda e: e["raised"])
            sizes = {e["file"]: _size(self.folder / e["file"]) for e in index}
            while len(index) > self.keep or (len(index) > 1 and sum(sizes[e["file"]] for e in index) > self.max_bytes):
                (self.folder / index.pop(0)["file"]).unlink(missing_ok=True)
            write_json(self.folder / "index.json", index, durable=True)

    def index(self) -> list[dict]:
        """The windows written, newest last; an entry whose name is not one of ours is never read or removed."""
        index = read_json(self.folder / "index.json", [])
        return [e for e in index if _is_window(e)] if isinstance(index, list) else []

    def listing(self, run: str | None) -> list[dict]:
        """The windows for a report: each with its path and whether an earlier run recorded it."""
        return [
            dict(e, earlier_run=e.get("run") != run, path=str(self.folder / e["file"]))
            for e in self.index()
            if (self.folder / e["file"]).is_file()
        ]


def _run_record(folder: Path) -> dict:
    """run.json: the last run's record, or {} (the file is input like every state file)."""
    run = read_json(folder / "run.json", {})
    return run if isinstance(run, dict) else {}


WINDOW_FILE = re.compile(r"^[0-9]{1,16}-[\w.-]{1,100}\.json\.gz$")  # as record_fault names them (_safe)


def _is_window(entry: object) -> bool:
    return (
        isinstance(entry, dict)
        and isinstance(entry.get("file"), str)
        and WINDOW_FILE.match(entry["file"]) is not None
        and isinstance(entry.get("raised"), (int, float))
    )


class Recorder:
    """HISTORY and TIMELINE are the daemon's. Writes go through one thread, so a checkpoint on a slow SD card
    never holds up the polling loop."""

    def __init__(
        self,
        cfg: RecorderConfig,
        state_dir: str,
        history,
        timeline,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = wall_clock,
        scrub: Callable[[dict], dict] = lambda r: r,
    ):
        self.cfg = cfg
        self.history = history
        self.timeline = timeline
        self.folder = state_path(state_dir, "recorder")
        self.windows = WindowStore(self.folder / "windows", cfg.fault_windows, cfg.windows_max_bytes, scrub)
        self._clock = clock  # written down: scrubbed of every secret
        self._wall = wall
        self._scrub = scrub
        self.run: str | None = None  # this run's id, from start()
        self.earlier_until: float | None = None  # the history before it ends here (start())
        self.last_stop: dict | None = None  # how the run before this one ended
        self._open_windows: dict[str, dict] = {}  # file -> entry, until complete
        self._checkpoint_due, self.skipped_windows = clock() + cfg.checkpoint_s, 0
        self._writer = Worker("recorder", maxsize=64)  # the SD card's writes, off the polling thread

    # --- start and stop ---------------------------------------------------------------------------
    def start(self, catch_abort: bool = True) -> None:
        try:
            self.windows.folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            log.error("the flight recorder has no folder %s: %s", self.folder, exc.strerror or exc)
        previous = _run_record(self.folder) or None
        abort_path = self.folder / "abort.txt"
        last = judge_last_stop(previous, _tail(abort_path), boot_id())
        self.timeline.restore(read_lines(self.folder / "timeline.jsonl", self.timeline.capacity))
        self.earlier_until = restore_history(self.folder / "history.ckpt.gz", self.history, self._wall())
        now = self._wall()
        self.run = f"{int(now)}-{os.getpid()}"
        self.timeline.on_add = self._append_event  # from here every event is written down, this one first
        if last:
            self.last_stop = {
                "kind": last[0],
                "words": last[1],
                "run": (previous or {}).get("run"),
                "last_sign_of_life": last_sign_of_life(self.folder),
            }
            self.timeline.add(
                "event",
                f"last_stop_{last[0]}",
                f"last stop: {last[1]}",
                category="system",
                severity="info" if last[0] == "orderly" else "warning",
            )
        self._mark_run({"run": self.run, "boot_id": boot_id(), "pid": os.getpid(), "started": now, "clean": False})
        if catch_abort:
            self._abort_file = catch_fatal_signals(abort_path)
        self._writer.start()

    def stop(self, timeout: float = 3.0) -> None:
        """Write the history once more and mark the stop as orderly."""
        if not self._writer.alive:
            return
        self._checkpoint()
        self._writer.stop(timeout)  # a card that no longer takes writes must not hold up the stop
        self._mark_run(dict(_run_record(self.folder), clean=True, stopped=self._wall()))

    def _mark_run(self, run: dict) -> None:
        try:
            write_json(self.folder / "run.json", run, durable=True)
        except OSError as exc:  # a full card: the next start will judge this stop a crash, and the log says why
            log.error("the flight recorder cannot note the run in %s: %s", self.folder, exc.strerror or exc)

    # --- what happens while running -----------------------------------------------------------------
    def tick(self) -> None:
        """From the main loop: complete the fault windows that are due; checkpoint when it is time."""
        now = self._clock()
        for name, entry in list(self._open_windows.items()):
            if now >= entry["_due"]:
                del self._open_windows[name]
                self._window(entry, complete=True)
        if now >= self._checkpoint_due:
            self._checkpoint_due = now + self.cfg.checkpoint_s
            self._checkpoint()

    def fault_raised(self, fault) -> None:
        """FaultMonitor's on_raise: the readings before it are on disk at once, the rest follow."""
        if any(e["code"] == fault.code and e["device"] == fault.device for e in self._open_windows.values()):
            self.skipped_windows += 1  # the same fault flapping inside its own window: one window is enough
            return
        raised = self._wall()
        entry = {
            "file": f"{int(raised * 1000)}-{_safe(fault.code)}-{_safe(fault.device or 'box')}.json.gz",
            "code": fault.code,
            "device": fault.device,
            "severity": fault.severity,
            "message": fault.message,
            "raised": raised,
            "before_s": self.cfg.fault_before_s,
            "after_s": self.cfg.fault_after_s,
            "run": self.run,
            "_due": self._clock() + self.cfg.fault_after_s,
        }
        self._open_windows[entry["file"]] = entry
        self._window(entry, complete=False)

    def report_data(self) -> dict:
        """The recorder's part of a report: this run, the last stop, the windows (newest last) as files."""
        return {
            "run": self.run,
            "last_stop": self.last_stop,
            "earlier_history_until": self.earlier_until,
            "checkpoint_s": self.cfg.checkpoint_s,
            "windows": self.windows.listing(self.run),
            "windows_skipped": self.skipped_windows,
        }

    # --- the writer -----------------------------------------------------------------------------------
    def _submit(self, job: Callable[[], None]) -> None:
        """JOB on the writer's thread; a full queue (a slow SD card) skips it, and says so."""
        self._writer.submit(self._write, job)

    def _write(self, job: Callable[[], None]) -> None:
        try:
            job()
        except OSError as exc:  # a full or failing card: the recorder waits for better times
            log.error("the flight recorder cannot write to %s: %s", self.folder, exc.strerror or exc)

    def _checkpoint(self) -> None:
        frozen = self.history.freeze()  # a quick copy here; encoding and writing on the writer's thread
        saved = self._wall()
        self._submit(
            lambda: write_atomic(
                self.folder / "history.ckpt.gz", lambda f: write_checkpoint(f, frozen, saved, self.run)
            )
        )

    def _window(self, entry: dict, complete: bool) -> None:
        series = self.history.recent([entry["device"]], entry["raised"] - entry["before_s"])
        record = {k: v for k, v in entry.items() if not k.startswith("_")}
        record.update(complete=complete, written=self._wall())
        self._submit(lambda: self.windows.write(record, series))

    def _append_event(self, event) -> None:
        """Timeline's on_add: one line, synced (events are rare; each may be the last thing the box says)."""
        from dataclasses import asdict

        line = json.dumps(self._scrub(dict(asdict(event), run=self.run)), separators=(",", ":")).encode() + b"\n"
        self._submit(
            lambda: append_line(self.folder / "timeline.jsonl", line, TIMELINE_MAX_BYTES, self.timeline.capacity)
        )


# --- files, written and read back ---------------------------------------------------------------------
def write_checkpoint(f, frozen, saved: float, run: str | None) -> None:
    """The history as gzip'ed JSON lines: a header, one series a line (as a report encodes it), an end mark."""
    import gzip

    with gzip.GzipFile(fileobj=f, mode="wb", compresslevel=9, mtime=int(saved)) as gz:
        gz.write(json.dumps({"saved": saved, "run": run}).encode() + b"\n")
        for device, name, period_s, block in frozen.raw_blocks():
            gz.write(
                json.dumps(
                    {"device": device, "name": name, "period_s": period_s, "block": block}, separators=(",", ":")
                ).encode()
                + b"\n"
            )
        gz.write(b'{"end":true}\n')


def restore_history(path: Path, history, now: float) -> float | None:
    """Put the checkpoint back into HISTORY, one series at a time; when it was saved, or None."""
    import gzip

    oldest = now - history.config.window_s
    try:
        with gzip.open(path, "rb") as f:
            header = json.loads(f.readline())
            for line in f:  # never the whole day as Python numbers at once
                entry = json.loads(line)
                if "end" in entry:
                    return header["saved"]
                history.restore(entry["device"], entry["name"], entry["period_s"], entry["block"], oldest)
        raise ValueError("no end mark")
    except FileNotFoundError:
        return None
    except (OSError, EOFError, ValueError, KeyError, TypeError, ArithmeticError) as exc:  # a damaged or planted file
        log.warning("the history checkpoint %s is not readable (%s): the history starts empty", path, exc)
        return None


def catch_fatal_signals(path: Path):
    """faulthandler writes every thread's stack to PATH on SIGABRT (systemd's watchdog), SIGSEGV, SIGBUS..."""
    import faulthandler

    try:
        f = open(path, "w")  # noqa: SIM115 (kept open for the process's life: written from a signal handler)
        faulthandler.enable(file=f, all_threads=True)
        return f
    except OSError as exc:
        log.error("no record of a hang or a crash can be kept in %s: %s", path, exc.strerror or exc)
        return None


def last_sign_of_life(folder: Path) -> float | None:
    times = [
        p.stat().st_mtime
        for p in (folder / "history.ckpt.gz", folder / "timeline.jsonl", folder / "run.json")
        if p.exists()
    ]
    return max(times) if times else None


def _tail(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-8192:]
    except OSError:
        return ""


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in text)[:48]


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
