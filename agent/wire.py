"""What the backend sends the box as JSON (cloud commands, case states, receipts): bounded before it is parsed,
and sealed by the backend, so nobody else who can publish on the box's topics is believed.

A sealed message carries "sig": HMAC-SHA256(key, PURPOSE "\\n" SERIAL "\\n" canonical JSON of the rest). The
purpose and the box's serial are inside what is signed: a case state cannot pose as a receipt, and one box's
messages mean nothing to another box under the same key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re

SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
MAX_DIGITS = 18  # no number of ours needs more: a 400-digit one is refused before Python makes it an int


class WireError(ValueError):
    """A message that is not used; the message says why (logged and counted, never shown as the message)."""


def nesting(payload: bytes) -> int:
    """How deep brackets nest in PAYLOAD, counted without parsing (strings' brackets count too: a message of
    ours has no reason to carry many)."""
    deepest = level = 0
    for byte in payload:
        if byte in (0x5B, 0x7B):  # [ {
            level += 1
            deepest = max(deepest, level)
        elif byte in (0x5D, 0x7D):
            level -= 1
    return deepest


def _number(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise WireError(f"a number of {len(text)} digits")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or len(text) > 40:
        raise WireError("a number that is not a plain finite one")
    return value


def _constant(name: str):
    raise WireError(f"{name} is not a number")


def parse(payload: bytes | str, max_bytes: int, max_depth: int) -> object:
    """PAYLOAD as JSON, after its size and depth are checked; numbers bounded; WireError otherwise."""
    if len(payload) > max_bytes:
        raise WireError(f"larger than {max_bytes} bytes ({len(payload)})")
    raw = payload.encode() if isinstance(payload, str) else bytes(payload)
    if nesting(raw) > max_depth:
        raise WireError(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(raw, parse_int=_number, parse_float=_float, parse_constant=_constant)
    except WireError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise WireError("not valid JSON") from None


def canonical(body: object) -> bytes:
    try:
        return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    except (UnicodeEncodeError, ValueError, RecursionError, TypeError):  # a lone surrogate, a NaN, deep nesting
        raise WireError("cannot be put in canonical form") from None


def _mac(key: str, purpose: str, serial: str, body: dict) -> str:
    signed = f"{purpose}\n{serial}\n".encode() + canonical(body)
    return hmac.new(key.encode(), signed, hashlib.sha256).hexdigest()


def box_key(fleet_key: str, serial: str) -> str:
    """The key of box SERIAL under the backend's FLEET_KEY: the backend derives every box's key from one
    secret, each box holds only its own (support.case_key), so one box's key opens no other's messages."""
    return hmac.new(fleet_key.encode(), f"box-key\n{serial}".encode(), hashlib.sha256).hexdigest()


def seal(key: str, purpose: str, serial: str, body: dict) -> dict:
    """The backend's side: BODY with its seal."""
    return dict(body, sig=_mac(key, purpose, serial, body))


def unseal(key: str | None, purpose: str, serial: str, data: object) -> dict:
    """DATA without its seal, once the seal is checked; WireError when it is missing or wrong."""
    if not key:
        raise WireError("the box has no key to check it with (support.case_key)")
    if not isinstance(data, dict):
        raise WireError("not a JSON object")
    body = {k: v for k, v in data.items() if k != "sig"}
    sig = data.get("sig")
    if not isinstance(sig, str) or not SIGNATURE.match(sig):
        raise WireError("not signed")
    if not hmac.compare_digest(_mac(key, purpose, serial, body), sig):
        raise WireError("a wrong signature")
    return body
