"""The data budget of a metered link: what is counted, when a day and a month begin, what is thinned and what
waits, and that on-site reports and support's answers always go (agent/transports/budget.py)."""

from __future__ import annotations

from tests.unit.test_budget import BERLIN, Clock  # noqa: F401  (fixtures and helpers shared with that tier)


def test_a_budget_above_a_month_is_refused_at_load(tmp_path, make_config, cli):
    cfg = make_config(backend={"data_budget": {"day_bytes": 2_000_000, "month_bytes": 1_000_000}})
    result = cli("check-config", cfg)
    assert result.returncode == 2 and "backend.data_budget.day_bytes: must not be above month_bytes" in result.stderr


def test_a_week_on_a_metered_link_in_short_thins_and_defers_the_box_s_own_reports_never_an_installers(tmp_path):
    """scripts/budget_run.py for two days: the agent's own reports, budget and sender against the reference
    intake on a virtual clock. Nothing is lost, on-site reports and answers go the same day, and what the
    budget had no room for is thinned or waits for the next day."""
    from tools import budget_run

    found = budget_run.run(2, 500_000, 0, tmp_path)
    assert found["undelivered"] == 0 and found["urgent_or_answer_deferred"] == 0
    days = found["days"]
    assert all(d["on-site_delivered_same_day"] == d["on-site_made"] == 1 for d in days.values())
    assert sum(d.get("low_thinned", 0) for d in days.values()) > 0
    assert sum(d.get("low_deferred", 0) for d in days.values()) > 0
    assert found["thinned_report_bytes_median"] < found["full_report_bytes_median"] / 2
    # Every day within its budget but for the urgent reports, which always go.
    assert all(d["bytes_counted"] <= 500_000 + 1.1 * d["on_site_bytes"] for d in days.values()), days
