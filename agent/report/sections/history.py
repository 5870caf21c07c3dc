"""Section history: every polled value over the history window (min/mean/max buckets) and the last hour
at full rate, as compact number columns; its resolution is cut after the logs."""

from __future__ import annotations

NAME, ORDER = "history", 20
COMPACT = True
CUT_ORDER = 2
MIN_BUCKETS = 48
THIN_ABOVE = 60  # raw samples per series before thinning is worth it


def collect(box, cfg):
    return box.history


def cut(history: dict) -> str | None:
    """First thin the last hour's raw samples, then halve the bucket resolution."""
    from agent.devices.history import decode_buckets, decode_raw, encode_buckets, encode_raw

    series = [e for values in history.values() for e in values.values()]
    thick = [e for e in series if len(e["raw"].get("v", [])) > THIN_ABOVE]
    if thick:
        for e in thick:
            e["raw"] = encode_raw(decode_raw(e["raw"])[1::2])
        return "history: raw samples of the last hour thinned to every second one"
    coarse = [e for e in series if len(e["buckets"].get("n", [])) > MIN_BUCKETS]
    if coarse:
        for e in coarse:
            e["buckets"] = encode_buckets(merge_pairs(decode_buckets(e["buckets"])))
        return "history: bucket resolution halved"
    return None


def merge_pairs(buckets: list[tuple]) -> list[tuple]:
    """Two neighbouring buckets as one: lowest low, weighted mean, highest high, summed counts."""
    out = []
    for i in range(0, len(buckets) - 1, 2):
        (w, lo1, m1, hi1, n1), (_, lo2, m2, hi2, n2) = buckets[i], buckets[i + 1]
        n = n1 + n2
        out.append((w, min(lo1, lo2), (m1 * n1 + m2 * n2) / n if n else m1, max(hi1, hi2), n))
    if len(buckets) % 2:
        out.append(buckets[-1])
    return out


def window(history: dict, oldest: float | None, latest: float | None) -> dict:
    """Only the buckets and samples from OLDEST to LATEST (an OCPP log request's time window)."""
    from agent.devices.history import decode_buckets, decode_raw, encode_buckets, encode_raw

    inside = lambda t: (oldest is None or t >= oldest) and (latest is None or t <= latest)  # noqa: E731
    return {dev: {name: {"buckets": encode_buckets([b for b in decode_buckets(e["buckets"]) if inside(b[0])]),
                         "raw": encode_raw([p for p in decode_raw(e["raw"]) if inside(p[0])])}
                  for name, e in values.items()} for dev, values in history.items()}
