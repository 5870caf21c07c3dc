"""Secrets out of everything that leaves the device: by key in structured data, by value everywhere.

By value means in every common encoding of the value: as it is and in any letter case, base64 (at
any alignment inside a longer blob, standard and URL-safe), hex, URL-encoded, JSON-escaped, and split
across lines. In text, `key=value` and `key: value` with a secret-like key, and the user information
of every URL (`scheme://user:password@host`, a password holding `/` or `@`, a bare token) go too.
Also, as an option, consistent pseudonyms for identifiers (MAC and IP addresses, vehicle ids).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "[REDACTED]"
# A key naming a secret: password, passwd, secret, token, key, psk, credential(s), auth(orization), ...
SECRET_KEY = re.compile(
    r"(password|passwd|passphrase|secret|token|(^|[_-])(api[_-]?)?key$|private[_-]?key"
    r"|psk|credential|(^|[_-])auth($|[_-]|orization)|cookie)",
    re.I,
)
# Keys that contain those words but name no secret: they name a file, or say yes or no.
NOT_SECRET = {"cloud_credentials_file", "cloud_credentials", "secrets_declared", "key_file"}
# Everything between scheme:// and the last @ before the host is user information, whatever it holds.
URL_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://)(\S*)@(?=[^\s@/?#]+(?:[/?#\s]|$))", re.I)
SECRET_WORDS = r"password|passwd|passphrase|secret|token|api[_-]?key|apikey|private[_-]?key|psk|credential|auth"
# key=value, key: value, "key": "value" in free text (logs, hook output), with a secret-like key.
KEY_VALUE = re.compile(
    r"""(?P<key>["']?[\w.-]*(?:""" + SECRET_WORDS + r""")[\w.-]*["']?\s*[=:]\s*)"""
    r"""(?P<value>"[^"\n]*"|'[^'\n]*'|(?:(?:bearer|basic|digest|token)\s+)?[^\s,;&"']+)""",
    re.I,
)
SECRET_WORD = re.compile(SECRET_WORDS, re.I)
HARMLESS = {"yes", "no", "true", "false", "none", "null", "0", "1", "[redacted]", '""', "''", "set", "unset"}
MAC = re.compile(r"\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b", re.I)
IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
MIN_SECRET_LEN = 4  # shorter values would scrub ordinary text; such a secret is no secret anyway


def encodings(secret: str) -> list[str]:
    """Regular expressions for SECRET in the encodings it is commonly found in."""
    raw = secret.encode()
    forms = {
        secret,
        raw.hex(),
        quote(secret, safe=""),
        quote_plus(secret),
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
    }
    for pad in range(3):  # base64 inside a longer blob: the secret may start at any of three alignments
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            text = encode(b"\0" * pad + raw).decode()
            # Only the 4-character groups made of the secret's bytes alone are certain in any blob.
            core = text[4 * (1 if pad else 0) : 4 * ((pad + len(raw)) // 3)]
            if len(core) >= 8:
                forms.add(core)
    patterns = [re.escape(f) for f in forms if f]
    # The plain value with a line break anywhere inside it (a log line wrapped by a tool).
    patterns.append(r"(?:\r?\n)?".join(re.escape(c) for c in secret))
    return patterns


def _mask_userinfo(m: re.Match) -> str:
    user, colon, _ = m.group(2).partition(":")
    return f"{m.group(1)}{user}:{MASK}@" if colon else f"{m.group(1)}{MASK}@"


def _mask_value(m: re.Match) -> str:
    value = m.group("value")
    if value.strip("\"'").lower() in HARMLESS or value.lower().strip("\"'") in HARMLESS:
        return m.group(0)
    quote_char = value[0] if value[:1] in "\"'" else ""
    return f"{m.group('key')}{quote_char}{MASK}{quote_char}"


def is_secret_key(key: str) -> bool:
    return key.lower() not in NOT_SECRET and bool(SECRET_KEY.search(key))


class Redactor:
    """Scrubs one report. `counts` says where and how much was redacted, never what."""

    def __init__(self, secrets: Iterable[str] = (), pseudonym_key: bytes | None = None):
        forms = sorted(
            {f for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LEN for f in encodings(s)},
            key=len,
            reverse=True,
        )
        self._values = re.compile("|".join(forms), re.I) if forms else None
        self._pseudo_key = pseudonym_key
        self.counts: Counter[tuple[str, str]] = Counter()  # (where, how) -> n

    def text(self, s: str, where: str) -> str:
        """Scrub a string: known secret values, passwords in URLs, and (optionally) identifiers."""
        if self._values is not None:
            s, n = self._values.subn(MASK, s)
            if n:
                self.counts[(where, "value")] += n
        if "@" in s and "://" in s:  # cheap tests first: most strings are numbers, names and states
            s, n = URL_USERINFO.subn(_mask_userinfo, s)
            if n:
                self.counts[(where, "url password")] += n
        if ("=" in s or ":" in s) and SECRET_WORD.search(s):
            s, n = KEY_VALUE.subn(_mask_value, s)
            if n:
                self.counts[(where, "key=value")] += n
        if self._pseudo_key is not None:
            s = self._pseudonymise(s, where)
        return s

    def _pseudonymise(self, s: str, where: str) -> str:
        def sub(prefix):
            def replace(m):
                if m.group(0).startswith("127.") or m.group(0) in ("0.0.0.0", "00:00:00:00:00:00"):
                    return m.group(0)
                self.counts[(where, f"{prefix} pseudonymised")] += 1
                return self.pseudonym(prefix, m.group(0))

            return replace

        s = MAC.sub(sub("mac"), s)
        return IPV4.sub(sub("ip"), s)

    def pseudonym(self, kind: str, value: str) -> str:
        """The same value gives the same pseudonym on this device, and no way back."""
        digest = hmac.new(self._pseudo_key or b"", f"{kind}:{value.lower()}".encode(), hashlib.sha256)
        return f"{kind}-{digest.hexdigest()[:10]}"

    def data(self, obj: Any, where: str, vehicle_keys: tuple[str, ...] = ("vehicle_id", "ev_id", "vin")) -> Any:
        """A scrubbed copy of JSON-able OBJ: secret keys masked, every string scrubbed."""
        if isinstance(obj, dict):
            out = {}
            for k, v in obj.items():
                key = str(k)
                if is_secret_key(key) and v not in (None, "", [], {}) and not isinstance(v, bool):
                    self.counts[(where, f"key {key}")] += 1
                    out[k] = MASK
                elif self._pseudo_key is not None and key.lower() in vehicle_keys and isinstance(v, str):
                    self.counts[(where, "vehicle id pseudonymised")] += 1
                    out[k] = self.pseudonym("vehicle", v)
                else:
                    out[k] = self.data(v, where, vehicle_keys)
            return out
        if isinstance(obj, (list, tuple)):
            return [self.data(v, where, vehicle_keys) for v in obj]
        if isinstance(obj, str):
            return self.text(obj, where)
        return obj

    def summary(self) -> list[dict]:
        """For the manifest: where, how, how many. Never a value."""
        return [{"where": w, "how": h, "count": n} for (w, h), n in sorted(self.counts.items())]


class SecretFilter(logging.Filter):
    """Scrubs every log record of the configured secrets and of passwords in URLs."""

    def __init__(self, secrets: Iterable[str]):
        super().__init__()
        self._redactor = Redactor(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self._redactor.text(message, "log")
        if clean != message:
            record.msg, record.args = clean, None
        return True
