"""The installer's language and clock: English and German as data files (agent/lang/), times shown in the box's
time zone with the offset, the page at a 360 px phone in German, report.html in German."""

from __future__ import annotations

import re

import pytest

from agent.lang import languages, load, pick, when


def keys(d: dict, prefix: str = "") -> set[str]:
    return {k2 for k, v in d.items() for k2 in (keys(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k})}


def test_german_says_everything_english_says_with_the_same_placeholders():
    import yaml

    from agent.lang import FOLDER

    english = yaml.safe_load((FOLDER / "en.yaml").read_text())
    german = yaml.safe_load((FOLDER / "de.yaml").read_text())
    assert keys(english) == keys(german)
    for key in keys(english):
        en_text = key.split(".")
        e, g = english, german
        for part in en_text:
            e, g = e[part], g[part]
        assert set(re.findall(r"{\w+}", str(e))) == set(re.findall(r"{\w+}", str(g))), key


# Each vocabulary of agent/vocab.py and where its members have words in every language.
VOCABULARIES = {
    "ReportState": ("report_states", "state_notes"),
    "CaseState": ("case_states", "case_notes"),
    "Status": ("results",),
    "Priority": ("priorities",),
    "Severity": ("severities",),
    "FaultCategory": ("categories",),
    "FaultCode": ("fault_titles", "fault_messages"),
    "Place": ("places", "place_why", "next_steps"),
    "Channel": ("channels",),
    "Reason": ("reasons",),
}


@pytest.mark.parametrize("language", languages())
@pytest.mark.parametrize("vocabulary", sorted(VOCABULARIES))
def test_every_member_of_every_vocabulary_has_words_and_no_word_defines_one(language, vocabulary):
    import yaml

    import agent.vocab as vocab
    from agent.lang import FOLDER

    members = {str(m) for m in getattr(vocab, vocabulary)}
    page = yaml.safe_load((FOLDER / f"{language}.yaml").read_text())["page"]
    for group in VOCABULARIES[vocabulary]:
        assert set(page[group]) == members, f"{language}.yaml page.{group}"
        assert all(isinstance(w, str) and w.strip() for w in page[group].values()), f"{language}.yaml page.{group}"


def test_a_missing_word_falls_back_to_english(tmp_path, monkeypatch):
    import agent.lang as lang

    (tmp_path / "en.yaml").write_text((lang.FOLDER / "en.yaml").read_text())
    (tmp_path / "xx.yaml").write_text("page:\n  title: Xx\n")
    monkeypatch.setattr(lang, "FOLDER", tmp_path)
    lang.load.cache_clear()
    try:
        assert languages() == ["en", "xx"]  # a third language is one file
        assert load("xx")["page"]["title"] == "Xx" and load("xx")["page"]["retry"] == "Retry"
    finally:
        lang.load.cache_clear()


@pytest.mark.parametrize(
    "header, default, chosen",
    [
        ("de-DE,de;q=0.9,en;q=0.8", "en", "de"),
        ("fr-FR,fr;q=0.9,en;q=0.5", "de", "en"),
        ("fr-FR", "de", "de"),
        ("en;q=0.3,de;q=0.7", "en", "de"),
        ("", "de", "de"),
        ("de;q=bad,en", "de", "en"),
    ],
)
def test_the_page_follows_the_browsers_choice_where_it_can(header, default, chosen):
    assert pick(header, default) == chosen


def test_times_are_shown_in_the_box_zone_with_the_offset():
    winter, summer = 1795680000.0, 1782900000.0  # 2026-11-26 and 2026-07-01, UTC
    assert when(winter, "Europe/Berlin") == "2026-11-26 09:00:00 +01:00"
    assert when(summer, "Europe/Berlin").endswith("+02:00")
    assert when(winter, "UTC", seconds=False) == "2026-11-26 08:00 +00:00"
