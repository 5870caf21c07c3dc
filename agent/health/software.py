"""The installed software, the newest release of its channel, and whether the box is up to date."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from agent import __version__
from agent.clock import wall as wall_clock
from agent.storage import StateFile

log = logging.getLogger(__name__)


MAX_NOTES = 400  # characters of a release's notes the box keeps and shows


def version_key(version: str) -> tuple | None:
    """Comparable form of a dotted version ("2.10.1" > "2.9"); None when it has no numbers."""
    parts = re.findall(r"\d+", version or "")
    return tuple(int(p) for p in parts) if parts else None


class ReleaseCache:
    """The newest version per channel from the backend, cached on disk, still answering offline."""

    def __init__(
        self,
        url: str,
        cache_file: str | Path,
        ca_file: str | None,
        refresh_s: float,
        timeout_s: float = 5.0,
        clock=wall_clock,
    ):
        self.url = url
        self.cache_file = Path(cache_file)
        self.ca_file = ca_file
        self.refresh_s = refresh_s
        self.timeout_s = timeout_s
        self._clock = clock

    def _load(self) -> dict:
        return StateFile(self.cache_file, valid=_valid_cache).load()

    def _save(self, data: dict) -> None:
        try:
            StateFile(self.cache_file).save(data)
        except OSError as exc:
            log.warning("cannot cache the release information: %s", exc)

    def latest(self, channel: str) -> dict:
        """{"version", "fetched", "age_s", "source": "backend" | "cache", "error"?} or no version."""
        cache = self._load()
        known = cache.get(channel)
        now = self._clock()
        if known and now - known["fetched"] < self.refresh_s:
            return dict(known, age_s=round(now - known["fetched"]), source="cache")
        error = self._fetch(channel, cache, now)
        known = cache.get(channel)
        if known is None:
            return {"version": None, "error": error}
        out = dict(known, age_s=round(now - known["fetched"]), source="cache" if error else "backend")
        if error:
            out["error"] = error
        return out

    def _fetch(self, channel: str, cache: dict, now: float) -> str | None:
        if not self.url:
            return "no releases URL (software.releases_url or backend.url)"
        from agent.transports.http import HttpError, Tls, request

        try:
            resp = request(
                "GET",
                f"{self.url}/{channel}",
                tls=Tls(self.ca_file or None),
                connect_timeout_s=self.timeout_s,
                timeout_s=self.timeout_s,
            )
            if resp.status != 200:
                return f"newest version not fetched: HTTP {resp.status}"
            answer = resp.json()
            version = str(answer["version"])
        except (HttpError, ValueError, KeyError, TypeError) as exc:
            return f"newest version not fetched: {str(exc)[:160]}"
        cache[channel] = {"version": version, "fetched": now}
        notes = answer.get("notes")
        if isinstance(notes, str) and notes.strip():  # what the update changes, for the installer: bounded
            cache[channel]["notes"] = notes.strip()[:MAX_NOTES]
        self._save(cache)
        return None


def collect_software(hooks: dict, releases: ReleaseCache | None) -> dict:
    """From the firmware_version hook's output and the release cache: the installed version, the newest, and
    whether the installed one is at least the newest (`current`, None when either is unknown)."""
    fw = hooks.get("firmware_version")
    out = fw.output if fw is not None and fw.ok else {}
    installed, channel = out.get("version"), out.get("channel") or "stable"
    latest = releases.latest(channel) if releases else {"version": None, "error": "no release source"}
    current = None
    if installed and latest.get("version"):
        a, b = version_key(installed), version_key(str(latest["version"]))
        if a is not None and b is not None:
            current = a >= b
    return {
        "firmware_version": installed or "unknown",
        "channel": channel,
        "agent_version": __version__,
        "latest": latest,
        "current": current,
        "firmware_hook_error": "no firmware_version hook" if fw is None else (None if fw.ok else fw.error),
    }


def _valid_cache(cache: dict) -> bool:
    """Each channel's last release: its version and when it was fetched."""
    return all(isinstance(r["fetched"], (int, float)) and isinstance(r.get("version"), str) for r in cache.values())
