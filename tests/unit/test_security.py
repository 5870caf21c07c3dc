"""The agent tried as an attacker would: a page on another origin, floods of idle connections, hooks that
misbehave, hostile cloud payloads, kill -9 in the middle of a request, a full disk, and secrets in every
encoding. Each attack is a test that stays; each counts what it tried."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import tracemalloc

import pytest

from agent.channels.cloud import CommandWorker, sign
from agent.config import CloudConfig
from rigs import peers

KEY = "command-key-for-tests-0123456789"


# --- cloud commands ---------------------------------------------------------------------------------
class Replies:
    def __init__(self):
        self.got, self.event = [], threading.Event()

    def publish(self, name, payload, retain=False, properties=None, timeout=None, correlation=None):
        self.got.append(json.loads(payload))
        self.event.set()


class NoDesk:
    def submit(self, request, timeout=30.0):
        return "20261126T000000Z-00000000"


def raw_signed(body: dict, key: str = KEY) -> bytes:
    """Sign a command the way the cloud does, but with fields a well-behaved cloud never sends."""
    canonical = json.dumps(
        {k: body[k] for k in ("args", "id", "ts", "type")},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=True,
    ).encode("utf-8", "surrogatepass")
    return json.dumps(
        dict(body, sig=hmac.new(key.encode(), canonical, hashlib.sha256).hexdigest()), allow_nan=True
    ).encode()


def test_hostile_cloud_payloads_are_rejected_or_counted_never_a_traceback(tmp_path, caplog):
    replies = Replies()
    worker = CommandWorker(CloudConfig(command_key=KEY), str(tmp_path), NoDesk(), None, replies)
    worker.start()
    now = time.time()
    good = sign(KEY, {"id": "good-command-01", "ts": now, "type": "ping", "args": {}})
    payloads = {
        "20 MB unsigned": b'{"id": "big-payload-01", "pad": "' + b"x" * (20 << 20) + b'"}',
        "non-ASCII signature": json.dumps(dict(good, id="sig-nonascii-1", sig="é" * 64)).encode(),
        "lone surrogate": json.dumps(dict(good, id="surrogate-0001", args={"x": "\ud800"})).encode(),
        "deep nesting": b'{"id": "deep-nesting-01", "args": ' + b"[" * 100000 + b"]" * 100000 + b"}",
        "ts NaN, signed": raw_signed({"id": "nan-timestamp1", "ts": float("nan"), "type": "ping", "args": {}}),
        "ts infinite, signed": raw_signed({"id": "inf-timestamp1", "ts": float("inf"), "type": "ping", "args": {}}),
        "sig a number": json.dumps(dict(good, id="sig-a-number-1", sig=12345)).encode(),
        "args a list": json.dumps(dict(good, id="args-a-list-01", args=[1, 2])).encode(),
    }
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    try:
        for payload in payloads.values():
            worker.offer(payload, None)
        peers.wait_for(lambda: len(replies.got) >= len(payloads), 20, "an answer to every payload")
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
        worker.stop()
    assert all(r["status"] == "rejected" for r in replies.got), replies.got
    by_id = {r["id"]: r["reason"] for r in replies.got}
    assert "larger than 8192 bytes" in by_id["big-payload-01"]
    assert "not a number" in by_id["nan-timestamp1"] and "not a number" in by_id["inf-timestamp1"]
    assert worker.counts["accepted"] == 0 and worker.counts["rejected"] == len(payloads)
    assert peak < 24 << 20, peak  # the 20 MB payload itself, never a parsed copy of it
    assert "Traceback" not in caplog.text


# --- secrets in every encoding, everywhere -------------------------------------------------------------
CANARY = {
    "mqtt": "Canary/Mqtt@Pass+7731",
    "token": "canary-web-token-99812345",
    "key": "canary-command-key-4411",
    "env": "Canary-Vendor-Token-5566",
}


def encoded(secret: str) -> dict[str, str]:
    from urllib.parse import quote

    raw = secret.encode()
    forms = {
        "plain": secret,
        "upper": secret.upper(),
        "hex": raw.hex(),
        "url": quote(secret, safe=""),
        "json": json.dumps(secret)[1:-1],
    }
    for pad in range(3):
        forms[f"base64+{pad}"] = base64.b64encode(b"\0" * pad + raw).decode()[
            4 * (1 if pad else 0) : 4 * ((pad + len(raw)) // 3)
        ]
    return forms


def leaks(text: str) -> list[str]:
    flat = text.replace("\r", "").replace("\n", "")
    return [
        f"{name}/{form}"
        for name, secret in CANARY.items()
        for form, value in encoded(secret).items()
        if value.lower() in text.lower() or (form == "plain" and value in flat)
    ]


@pytest.mark.parametrize(
    "text, kept",
    [
        ("https://user:pw/x@y@host.example/p", "https://user:[REDACTED]@host.example/p"),
        ("token https://abcdef0123@host.example/", "token https://[REDACTED]@host.example/"),
        ("password=hunter22 more", "password=[REDACTED] more"),
        ('{"api_key": "xyz987"}', '{"api_key": "[REDACTED]"}'),
        ("Authorization: Bearer abcdef123", "Authorization: [REDACTED]"),
        ("cloud_credentials: yes", "cloud_credentials: yes"),
        ("voltage: 230 V at https://host.example/a", "voltage: 230 V at https://host.example/a"),
    ],
)
def test_free_text_secrets_go_and_ordinary_text_stays(text, kept):
    from agent.redact import Redactor

    assert Redactor([]).text(text, "log") == kept


def test_a_known_secret_goes_in_every_encoding_at_every_alignment():
    from agent.redact import Redactor

    secret = CANARY["mqtt"]
    redactor = Redactor([secret])
    for pre in range(6):
        for post in range(3):
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                blob = encode(b"p" * pre + secret.encode() + b"s" * post).decode()
                assert not leaks(redactor.text(blob, "x")), (pre, post)
    for form, value in encoded(secret).items():
        assert not leaks(redactor.text(f"before {value} after", "x")), form
    assert not leaks(redactor.text(f"wrapped {secret[:5]}\n{secret[5:]} line", "x"))
