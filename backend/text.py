"""What support reads of a box's article in the helpdesk: the follow-up's words (for a report: the summary
first: faults, verdict, software, on-site) and its attachments (report.html, summary.json, the bundle, a
photo)."""

from __future__ import annotations

import json
from pathlib import Path

from backend.helpdesk.desk import Attachment

MIME = {
    "html": "text/html",
    "json": "application/json",
    "gz": "application/gzip",
    "jpg": "image/jpeg",
    "png": "image/png",
}


def summary_lines(manifest: dict, summary: dict) -> list[str]:
    """The support checklist of a report, as lines: what remote support reads first."""
    s, sw = summary, manifest.get("software") or {}
    faults = s.get("active_faults") or []
    check = s.get("self_check") or {}
    lines = [
        f"Box: {s.get('model') or '?'} {s.get('serial') or s.get('order_number') or '?'}",
        f"On site: {'YES, an installer is at the box' if manifest.get('on_site') else 'no'}",
        f"Software: {sw.get('firmware_version') or s.get('firmware_version') or '?'} "
        f"({s.get('software_verdict') or sw.get('verdict') or 'not checked'}"
        + (f", newest {s['latest_version']}" if s.get("latest_version") else "")
        + ")",
        f"Self-check: {check.get('result', '?')}"
        + (f" (failing: {', '.join(check['failing'])})" if check.get("failing") else ""),
        f"Network: {s.get('network') or '?'}",
        "Faults: " + ("; ".join(f"{f.get('code')} on {f.get('device')}: {f.get('message')}" for f in faults) or "none"),
        f"Commissioning protocol: {'yes' if s.get('commissioning_protocol') else 'no'}; cloud credentials set up: "
        f"{'yes' if s.get('cloud_credentials') else 'no'}",
    ]
    if s.get("email"):
        lines.append(f"Reply to: {s['email']}")
    lines += left_out(manifest)
    return lines


def left_out(manifest: dict) -> list[str]:
    """What the box left out of a report and why (its size cap, the data budget of a metered link, history the
    case holds): support knows what to ask for again."""
    cuts = [c for c in manifest.get("cuts") or [] if isinstance(c, dict)]
    out = [f"Left out: {str(c.get('what'))[:120]} ({str(c.get('why'))[:120]})" for c in cuts[:10]]
    if len(cuts) > 10:
        out.append(f"Left out: {len(cuts) - 10} more cuts (the manifest lists them)")
    omitted = manifest.get("history_omitted")
    if isinstance(omitted, dict):
        out.append(f"Left out: history before {omitted.get('before')} (the case holds it: {omitted.get('held_by')})")
    return out


def summary_title(case: dict) -> str:
    """A ticket's title: on site first, the subject, the box."""
    return f"{'[ON SITE] ' if case['on_site'] else ''}{case['subject'] or 'Report'} ({case['box'] or 'unknown box'})"[
        :200
    ]


def read_summary(members: dict) -> dict:
    try:
        found = json.loads(members.get("summary.json", b"{}"))
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def article_text(article: dict, case: dict) -> str:
    """The follow-up's words for a box's ARTICLE."""
    kind, rid = article["kind"], article["report_id"]
    if kind == "answer":
        return f"Answer from the box to {article.get('question') or 'the case'}:\n\n{article.get('text', '')}"
    if kind == "photo":
        about = f" (for {article['question']})" if article.get("question") else ""
        return f"Photo from the box: {article.get('label') or 'photo'}{about}, {article.get('bytes', 0)} bytes."
    if kind == "feedback":
        return f"Satisfaction check from the box: getting help was {'easy' if article['easy'] else 'not easy'}."
    what = {"report": "Report", "follow_up": "Follow-up report"}[kind]
    head = f"{what} {rid} from the box (via {article['transport']}): {article['subject']}"
    if article.get("question"):
        head += f"\nSent by the box itself for support's data request {article['question']}."
    return (
        head
        + ("\n\n" + "\n".join(article["summary"]) if article.get("summary") else "")
        + (f"\n\nBundle: {article['bundle']}" if article.get("bundle") else "")
    )


def files_of(article: dict, manifest: dict, members: dict, bundle: Path) -> list[Attachment]:
    """The attachments of ARTICLE's follow-up (and, for a report, its summary in the article)."""
    rid = article["report_id"]
    if article["kind"] == "photo" and article.get("file"):
        ext = Path(article["file"]).suffix.lstrip(".")
        return [
            Attachment(
                f"photo-{article.get('label') or 'other'}-{rid}.{ext}", Path(article["file"]).read_bytes(), MIME[ext]
            )
        ]
    if article["kind"] not in ("report", "follow_up"):
        return []
    summary = read_summary(members)
    article["summary"] = summary_lines(manifest, summary) + [
        f"Description: {str(manifest.get('description') or '')[:500]}"
    ]
    article["bundle"] = str(bundle)
    out = [Attachment(f"summary-{rid}.json", json.dumps(summary, indent=1).encode(), MIME["json"])]
    if "report.html" in members:
        out.append(Attachment(f"report-{rid}.html", members["report.html"], MIME["html"]))
    out.append(Attachment(f"bundle-{rid}.tar.gz", bundle.read_bytes(), MIME["gz"]))
    return out
