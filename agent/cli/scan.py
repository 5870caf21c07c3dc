"""`diag-agent scan`: which unit ids answer on a bus and which shipped profiles fit them, with its progress
on stderr (through the running daemon when there is one: a serial bus is then never opened twice)."""

from __future__ import annotations

import json
import sys
import time

from agent.cli.exits import EXIT_CONFIG, EXIT_FAIL, EXIT_OK


def add_parsers(sub, common, load_config) -> None:
    p = sub.add_parser("scan", parents=[common], help="which unit ids answer on a bus, and which profiles fit")
    p.add_argument("--bus", help="one bus by name (default: every bus)")
    p.add_argument("--units", default="1-247", help="unit ids, e.g. 1-247 or 1,105 (default 1-247)")
    p.add_argument("--timeout", type=float, default=0.2, help="seconds to wait for each unit id (default 0.2)")
    p.add_argument("--budget", type=float, default=120.0, help="seconds the scan of one bus may take (default 120)")
    p.add_argument("--json", action="store_true", help="what answered, as JSON")
    p.set_defaults(func=lambda args: cmd_scan(args, load_config))


class _Progress:
    """A scan's progress on stderr (stdout stays the result): at most a line a second, and the last one."""

    def __init__(self):
        self.last = 0.0

    def __call__(self, p: dict | None) -> None:
        if p and (time.monotonic() - self.last >= 1.0 or p["asked"] == p["total"]):
            self.last = time.monotonic()
            print(
                f"scanning bus {p['bus']}: {p['asked']} of {p['total']} unit ids asked, {p['found']} answered",
                file=sys.stderr,
                flush=True,
            )


def _with_progress(call, progress, say):
    """CALL (a scan through the daemon) on a thread, with PROGRESS (the daemon's status) said meanwhile."""
    import threading

    result: dict = {}

    def work():
        try:
            result["answer"] = call()
        except BaseException as exc:  # handed back to the caller's thread
            result["error"] = exc

    worker = threading.Thread(target=work, name="scan-through-daemon", daemon=True)  # joined below
    worker.start()
    while worker.is_alive():
        worker.join(1.0)
        if worker.is_alive():
            try:
                say(progress())
            except Exception:  # noqa: BLE001 - progress is a courtesy; the scan's own answer decides
                pass
    if "error" in result:
        raise result["error"]
    return result["answer"]


def cmd_scan(args, load_config) -> int:
    cfg = load_config(args.config)
    from agent.cli.ask import ask
    from agent.cli.views import render_scans
    from agent.devices.scan import parse_units, scan_bus, to_dict

    buses = [b for b in cfg.buses if args.bus in (None, b.name)]
    if not buses:
        known = ", ".join(b.name for b in cfg.buses) or "none configured"
        print(f"diag-agent: scan: no bus named {args.bus!r} (buses: {known})", file=sys.stderr)
        return EXIT_CONFIG
    try:
        units = parse_units(args.units)
    except ValueError as exc:
        print(f"diag-agent: scan: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    asked = {"bus": args.bus, "units": args.units, "budget_s": args.budget, "timeout_s": args.timeout}
    say = _Progress()
    answer = _with_progress(  # through the daemon when it runs: a serial bus is then never opened twice
        lambda: ask(cfg, "scan", asked, timeout=args.budget * len(buses) + 60),
        lambda: (ask(cfg, "status", {}, timeout=5) or {}).get("scan"),
        say,
    )
    if answer is not None:
        scans = answer["scans"]
    else:
        scans = [
            to_dict(
                scan_bus(
                    b,
                    units,
                    cfg.profiles_dir,
                    args.budget,
                    args.timeout,
                    configured=[d.unit for d in cfg.devices if d.bus == b.name],
                    progress=say,
                )
            )
            for b in buses
        ]
    if args.json:
        print(json.dumps(scans, indent=2))
    else:
        print(render_scans(scans, cfg))
    return EXIT_OK if any(s["found"] for s in scans) else EXIT_FAIL
