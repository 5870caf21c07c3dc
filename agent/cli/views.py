"""How the command line shows things to people: a bundle's inspection, the daemon's status, a bus scan."""

from __future__ import annotations


def render_inspection(manifest: dict, summary: dict) -> str:
    if manifest.get("kind") in ("answer", "photo", "feedback"):
        return _render_article(manifest)
    if manifest.get("kind") == "security_log":
        return _render_security_log(manifest)
    sw, created = manifest.get("software", {}), manifest.get("created", {})
    lines = [
        f"report    {manifest.get('report_id')}  (schema {manifest.get('schema_version')}, every checksum OK)",
        f"device    {summary.get('model')}  serial {summary.get('serial')}  order {summary.get('order_number') or '-'}",
        f"software  {sw.get('firmware_version')} ({sw.get('channel')}, {sw.get('verdict')}; newest "
        f"{summary.get('latest_version') or 'unknown'})  agent {sw.get('agent_version')}",
        f"created   {created.get('wall_iso')}  "
        f"clock {'synchronised' if created.get('clock_synced') else 'NOT synchronised'}"
        f"  trigger {manifest.get('trigger')}",
        f"priority  {manifest.get('priority')}  on-site {'yes' if manifest.get('on_site') else 'no'}"
        f"  previous case {manifest.get('case_ref') or '-'}",
        f"subject   {manifest.get('subject')}",
        f"contact   {manifest.get('email') or '-'}",
        f"checklist commissioning protocol {'yes' if summary.get('commissioning_protocol') else 'no'}, "
        f"cloud credentials {'yes' if summary.get('cloud_credentials') else 'no'}",
        f"network   {summary.get('network')}",
        f"self-check {summary.get('self_check', {}).get('result')}  {summary.get('self_check', {}).get('counts')}",
    ]
    faults = summary.get("active_faults", [])
    lines.append(f"faults    {len(faults)} active")
    lines += [f"  {f['severity']:<8} {f['code']} on {f['device']}: {f['message']}" for f in faults]
    lines.append("sections")
    lines += [
        f"  {s['name']:<28} {s['bytes']:>9} bytes  sha256 {s['sha256'][:16]}" for s in manifest.get("sections", [])
    ]
    for title, items, fmt in (
        ("cuts", manifest.get("cuts", []), lambda c: f"{c['what']} ({c['why']})"),
        ("redactions", manifest.get("redactions", []), lambda r: f"{r['where']}: {r['how']} x{r['count']}"),
        ("failed", manifest.get("failed", []), lambda f: f"{f['section']}: {f['why']}"),
    ):
        lines.append(f"{title:<9} {len(items) or 'none'}")
        lines += [f"  {fmt(i)}" for i in items]
    return "\n".join(lines)


def _render_article(manifest: dict) -> str:
    """An answer or a photo for a case (agent/cases/articles.py): what it says, and where it goes."""
    device = manifest.get("device", {})
    lines = [
        f"{manifest['kind']:<9} {manifest.get('report_id')}  (schema {manifest.get('schema_version')}, "
        "every checksum OK)",
        f"device    {device.get('model')}  serial {device.get('serial')}",
        f"created   {manifest.get('created', {}).get('wall_iso')}",
        f"case      {manifest.get('case_ref')}  priority {manifest.get('priority')}  "
        f"on-site {'yes' if manifest.get('on_site') else 'no'}",
        f"subject   {manifest.get('subject')}",
    ]
    if manifest["kind"] == "answer":
        lines.append(f"answer    to {manifest.get('question')}: {manifest.get('text')}")
    elif manifest["kind"] == "feedback":
        lines.append(f"feedback  getting help was {'easy' if manifest.get('easy') else 'not easy'}")
    else:
        lines.append(
            f"photo     {manifest.get('label')}, {manifest.get('width')}x{manifest.get('height')} px, "
            f"removed: {', '.join(manifest.get('removed') or []) or 'nothing'}"
        )
    lines += [
        f"  {s['name']:<28} {s['bytes']:>9} bytes  sha256 {s['sha256'][:16]}" for s in manifest.get("sections", [])
    ]
    return "\n".join(lines)


def _render_security_log(manifest: dict) -> str:
    """The OCPP SecurityLog's bundle: the box, the span of time, how many events."""
    device, span = manifest.get("device", {}), manifest.get("window") or {}
    lines = [
        f"security log {manifest.get('report_id')}  (schema {manifest.get('schema_version')}, every checksum OK)",
        f"device    {device.get('model')}  serial {device.get('serial')}",
        f"created   {manifest.get('created', {}).get('wall_iso')}",
        f"window    {span.get('oldest') or 'from the first event'} to {span.get('latest') or 'now'}",
        f"events    {manifest.get('events', 0)}",
    ]
    lines += [
        f"  {s['name']:<28} {s['bytes']:>9} bytes  sha256 {s['sha256'][:16]}" for s in manifest.get("sections", [])
    ]
    return "\n".join(lines)


def render_status(status: dict, language: str = "en", zone: str = "UTC") -> str:
    """The status in lines a person reads: the agent and its link, the box, its devices, faults, the outbox."""
    from agent.lang import load

    w = load(language)["status"]
    out = [_agent_line(status, w)]
    onsite = status["onsite"]
    out.append(w["onsite_on"].format(channel=onsite["channel"]) if onsite["on"] else w["onsite_off"])
    if status["software"]:
        out.append(
            w["firmware"].format(version=status["software"]["firmware_version"], verdict=status["software"]["verdict"])
        )
    if status["network"]:
        out.append(w["network"].format(verdict=status["network"]))
    out += _device_lines(status, w)
    out += [w["fault"].format(**f) for f in status["faults"]] or [w["no_faults"]]
    out += _outbox_lines(status, w)
    if status.get("data_budget"):
        out.append(budget_line(status["data_budget"], w, zone))
    return "\n".join(out)


def _agent_line(status: dict, w: dict) -> str:
    mqtt = status.get("mqtt") or {}
    if not mqtt:
        return w["agent"].format(version=status["agent_version"], link=w["mqtt_off"])
    if status["mqtt_connected"]:
        link = w["mqtt_connected"].format(protocol=mqtt.get("protocol"))
    else:
        link = w["mqtt_not_connected"] + (f": {mqtt['last_failure']}" if mqtt.get("last_failure") else "")
    return w["agent"].format(version=status["agent_version"], link=link)


def _device_lines(status: dict, w: dict) -> list[str]:
    out = [
        w["device_ok"].format(name=name)
        if dev["reachable"]
        else w["device_silent"].format(name=name, error=dev["last_error"])
        for name, dev in status["devices"].items()
    ]
    return out + [
        w["bus"].format(name=name, note=bus["budget_note"])
        for name, bus in status["buses"].items()
        if bus["budget_note"]
    ]


def _outbox_lines(status: dict, w: dict) -> list[str]:
    ob, cases = status["outbox"], status.get("cases") or {}
    waiting = ob["accepted"] + ob["sending"]
    out = [w["outbox"].format(waiting=waiting, refused=ob["refused"], delivered=ob["delivered"], evicted=ob["evicted"])]
    if ob.get("damaged"):
        out.append(w["damaged"].format(n=ob["damaged"]))
    if cases.get("dropped"):
        out.append(w["cases_dropped"].format(n=cases["dropped"]))
    if status["last_receipt"]:
        out.append(w["last_receipt"].format(**status["last_receipt"]))
    if cases.get("open_questions"):
        out.append(w["questions"].format(n=cases["open_questions"]))
    return out


def budget_line(budget: dict, w: dict, zone: str) -> str:
    """The data budget in a line: use of each period, whether reports are thinned, which wait (status words W)."""
    from agent.lang import when

    use = [
        w[f"budget_{p}"].format(used=f"{b['used'] / 1e6:.2f}", limit=f"{b['limit'] / 1e6:.2f}")
        for p in ("day", "month")
        if (b := budget[p])["limit"]
    ]
    if budget.get("thinning"):
        use.append(w["budget_thinning"])
    if budget.get("deferred"):
        until = when(min(d["until"] for d in budget["deferred"]), zone, seconds=False)
        use.append(w["budget_deferred"].format(n=len(budget["deferred"]), until=until))
    return w["budget"].format(use="; ".join(use))


def render_scans(scans: list[dict], cfg) -> str:
    lines = []
    for scan in scans:
        lines.append(
            f"bus {scan['bus']}: {len(scan['found'])} of {scan['units_asked']} unit ids answer "
            f"({scan['seconds']:g} s){'; ' + scan['stopped'] if scan['stopped'] else ''}"
        )
        for f in scan["found"]:
            fits = ", ".join(f"{p['profile']} ({p['model']})" for p in f["fits"]) or "no shipped profile fits"
            lines.append(f"  unit {f['unit']:>3}  answers with {f['how']:<13} fits: {fits}")
        from agent.watch.judge import judge_scan

        configured = {d.name: d for d in cfg.devices}
        for j in judge_scan(cfg.devices, scan):
            dev = configured[j.subject]
            lines.append(f"  configured {dev.name} (unit {dev.unit}, {dev.profile}): {j.detail}")
    return "\n".join(lines)


def render_cases(view: dict) -> str:
    """`diag-agent cases`: support's open questions first, then each case with its reports, then reports
    that have no case yet (and how to take them away by hand)."""
    out: list[str] = []
    questions = view["open_questions"]
    if questions:
        out.append(f"support asks ({len(questions)} open):")
        out += [
            f'  {q["case"]} {q["id"]}: {q["text"]}\n    answer: diag-agent answer {q["case"]} {q["id"]} "..."'
            for q in questions
        ]
    by_id = {r["report_id"]: r for r in view["reports"]}
    for case in view["cases"]:
        state = case["state"] or "delivered"
        out.append(f"{case['case']:<12} {state:<9} {case['priority']:<6} {case['subject'][:50]}  ({case['note']})")
        for m in case["messages"][-3:]:
            out.append(f"  support {m['id']}: {m['text'][:100]}{' (answered)' if m['answered'] else ''}")
        for rid in case["box_reports"]:
            r = by_id[rid]
            out.append(f"  {r['kind']:<7} {rid} {r['state']}: {r['subject'][:60]}")
    waiting = [r for r in view["reports"] if not r["case"]]
    if waiting:
        out.append("not in a case yet:")
    for r in waiting:
        out.append(f"  {r['kind']:<7} {r['report_id']} {r['state']}: {r['subject'][:60]}")
        out.append(f"    {r['note']}")
        ta = r["take_away"]
        if ta and r["state"] == "refused":
            out.append(f"    retry: diag-agent retry {r['report_id']}")
        if ta and ta["email"]:  # the file as it lies on the box, and the name support knows it by
            where = f"{ta['path']} (as {ta['file_name']})" if ta.get("path") else ta["file_name"]
            out.append(f'    by hand: mail {where} to {ta["email"]}, subject "{ta["subject"]}"')
    if view.get("cases_error"):
        out.append(f"(cases not read from the backend: {view['cases_error']})")
    return "\n".join(out) or "no reports and no cases yet"
