"""Section hooks: what every firmware hook answered (or why it failed); firmware logs go to the logs section."""

NAME, ORDER = "hooks", 90


def collect(box, cfg):
    hooks = {name: result.to_dict() for name, result in box.health["hooks"].items()}
    fw_logs = (hooks.get("firmware_logs") or {}).get("output")
    if fw_logs:
        from agent.report.sections.logs import firmware_log_names

        hooks["firmware_logs"]["output"] = {"moved_to": sorted(f"log-{n}.txt" for n in firmware_log_names(fw_logs))}
    return hooks
