"""Section hooks: what every firmware hook answered (or why it failed); firmware logs go to the logs section."""

from __future__ import annotations

from agent.report.html import Page, dig, heading, shown, table, yes

NAME, ORDER = "hooks", 90


def collect(box, cfg):
    hooks = {name: result.to_dict() for name, result in box.health["hooks"].items()}
    fw_logs = (hooks.get("firmware_logs") or {}).get("output")
    if fw_logs:
        from agent.report.sections.logs import firmware_log_names

        hooks["firmware_logs"]["output"] = {"moved_to": sorted(f"log-{n}.txt" for n in firmware_log_names(fw_logs))}
    return hooks


def results(page: Page) -> list[str]:
    w = page.w
    rows = [
        (n, yes(dig(h, "ok"), w), dig(h, "error") or "", shown(dig(h, "duration_s"), w))
        for n, h in (dig(page.sections, "hooks") or {}).items()
    ]
    return [heading(w["hooks"]), table((w["hook"], w["ok"], w["error"], w["seconds"]), rows)]


PAGE = {140: results}  # its part of report.html, by its place on the page
