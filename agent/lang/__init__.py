"""The words people read, one YAML file per language in this folder (en.yaml, de.yaml): the self-check's titles
and hints, the page's words, the status lines and report.html's. A third language is one more file; a key it
lacks is taken from English. And the time as people read it: in the box's time zone, with the offset."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

import yaml

FOLDER = Path(__file__).resolve().parent


def languages() -> list[str]:
    return sorted(p.stem for p in FOLDER.glob("*.yaml"))


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for key, value in over.items():
        out[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


@lru_cache(maxsize=4)
def load(language: str = "en") -> dict:
    """Every text of LANGUAGE, English where it has none."""
    english = yaml.safe_load((FOLDER / "en.yaml").read_text(encoding="utf-8"))
    if language == "en":
        return english
    return _merge(english, yaml.safe_load((FOLDER / f"{language}.yaml").read_text(encoding="utf-8")) or {})


def told(language: str, key: str | None, fill: Mapping | None = None, fallback: str = "") -> str:
    """An error's words for the person who must act: page.errors[KEY] in LANGUAGE with FILL, else FALLBACK."""
    template = load(language)["page"]["errors"].get(key or "")
    return fallback if template is None else filled(template, fill or {}, fallback)


def filled(template: str, fill: Mapping, fallback: str) -> str:
    """TEMPLATE with FILL's values; FALLBACK (the box's own words) when a value it needs is not known."""
    try:
        return template.format(**fill)
    except (KeyError, IndexError, ValueError):
        return fallback


class Told(ValueError):
    """An error said in words from the language files: KEY (page.errors) and FILL; its message is the English."""

    def __init__(self, key: str, fill: Mapping | None = None):
        self.key, self.fill = key, dict(fill or {})
        super().__init__(told("en", key, self.fill, key))

    def words(self, language: str) -> str:
        return told(language, self.key, self.fill, str(self))


def pick(accept_language: str, default: str) -> str:
    """The browser's first choice among ours (Accept-Language: de-DE,de;q=0.9,en;q=0.8), else DEFAULT."""
    ours = languages()
    ranked = []
    for i, part in enumerate(accept_language.split(",")[:10]):
        tag, _, q = part.strip().partition(";q=")
        try:
            weight = float(q) if q else 1.0
        except ValueError:
            continue
        ranked.append((-weight, i, tag.split("-")[0].lower()))
    return next((tag for _, _, tag in sorted(ranked) if tag in ours), default)


def locale_problems(language: str, zone: str) -> list[tuple[str, str]]:
    """What is wrong with a configured language and time zone, as (key, problem) pairs."""
    problems = []
    if language not in languages():
        problems.append(("language", f"expected one of {', '.join(languages())}"))
    try:
        _zone(zone)
    except (ValueError, KeyError, OSError):
        problems.append(("timezone", f"{zone!r} is not a time zone name such as Europe/Berlin or UTC"))
    return problems


@lru_cache(maxsize=8)
def _zone(name: str):
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def when(wall: float | None, zone: str = "UTC", seconds: bool = True) -> str:
    """WALL (Unix seconds) as people read it on this box: 2026-11-26 06:12:03 +01:00."""
    if wall is None:
        return "-"
    local = datetime.fromtimestamp(wall, UTC).astimezone(_zone(zone))
    return (
        local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
        + " "
        + local.strftime("%z")[:3]
        + ":"
        + local.strftime("%z")[3:]
    )
