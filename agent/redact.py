"""Secrets out of everything that leaves the device: by key in structured data, by value everywhere.

By value means in every common encoding of the value: as it is and in any letter case, base64 (at
any alignment inside a longer blob, standard and URL-safe), hex, URL-encoded, JSON-escaped, and split
across lines. In text, `key=value` and `key: value` with a secret-like key, and the user information
of every URL (`scheme://user:password@host`, a password holding `/` or `@`, a bare token) go too.
Also, as an option, consistent pseudonyms for identifiers (MAC and IP addresses, vehicle ids).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import logging
import re
import threading
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
    # Inside JSON any character may be escaped, the way some encoders do ("\/" for "/", "\u0022" for a quote).
    patterns.append("".join(_json_char(c) for c in secret))
    return patterns


def _json_char(c: str) -> str:
    forms = [re.escape(c), re.escape(f"\\u{ord(c):04x}")] if ord(c) < 0x10000 else [re.escape(c)]
    forms += {"/": [r"\\/"], '"': [r'\\"'], "\\": [r"\\\\"]}.get(c, [])
    return "(?:" + "|".join(forms) + ")"


SPLIT_MIN = 3  # each part of a secret split across two log lines is at least this long
LINE_PREFIX = r"\r?\n[^\n]{0,160}?"  # the next line's own prefix (its time, its program's name) before the rest


def split_pattern(secret: str) -> re.Pattern | None:
    """SECRET broken across two lines, where a tool wrapped it after its first part and the next line starts
    with a log prefix before the rest; None for a secret too short to split."""
    if len(secret) < 2 * SPLIT_MIN + 2:
        return None
    cuts = range(SPLIT_MIN, len(secret) - SPLIT_MIN + 1)
    return re.compile("|".join(re.escape(secret[:k]) + LINE_PREFIX + re.escape(secret[k:]) for k in cuts), re.I)


def _mask_split(secret_len: int):
    def mask(m: re.Match) -> str:
        text = m.group(0)
        head = text.index("\n") - (1 if text[text.index("\n") - 1] == "\r" else 0)
        tail = secret_len - head
        return MASK + text[head : len(text) - tail] + MASK

    return mask


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
        known = sorted({s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LEN}, key=len, reverse=True)
        forms = sorted({f for s in known for f in encodings(s)}, key=len, reverse=True)
        self._values = re.compile("|".join(forms), re.I) if forms else None
        self._splits = [(p, _mask_split(len(s))) for s in known if (p := split_pattern(s))]
        self._pseudo_key = pseudonym_key
        self.counts: Counter[tuple[str, str]] = Counter()  # (where, how) -> n

    def fresh(self) -> Redactor:
        """The same patterns, compiled once, with counts of its own (one output's)."""
        other = copy.copy(self)
        other.counts = Counter()
        return other

    def text(self, s: str, where: str) -> str:
        """Scrub a string: known secret values, passwords in URLs, and (optionally) identifiers."""
        if "\n" in s:
            for pattern, mask in self._splits:
                s = self._sub(pattern, mask, s, where, "value split across lines")
        if self._values is not None:
            s = self._sub(self._values, MASK, s, where, "value")
        if "@" in s and "://" in s:  # cheap tests first: most strings are numbers, names and states
            s = self._sub(URL_USERINFO, _mask_userinfo, s, where, "url password")
        if ("=" in s or ":" in s) and SECRET_WORD.search(s):
            s = self._sub(KEY_VALUE, _mask_value, s, where, "key=value")
        if self._pseudo_key is not None:
            s = self._pseudonymise(s, where)
        return s

    def _sub(self, pattern: re.Pattern, mask, s: str, where: str, how: str) -> str:
        """PATTERN's matches in S masked, counted under (WHERE, HOW)."""
        s, n = pattern.subn(mask, s)
        if n:
            self.counts[(where, how)] += n
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

    def strings(self, obj: Any, where: str) -> Any:
        """A copy of JSON-able OBJ with every string scrubbed by value (keys are left as they are: in a status
        or a manifest they are the agent's own names)."""
        if isinstance(obj, dict):
            return {k: self.strings(v, where) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.strings(v, where) for v in obj]
        return self.text(obj, where) if isinstance(obj, str) else obj

    def summary(self) -> list[dict]:
        """For the manifest: where, how, how many. Never a value."""
        return [{"where": w, "how": h, "count": n} for (w, h), n in sorted(self.counts.items())]


MAX_KNOWN = 200  # secrets hooks may declare: more is a hook gone wrong, not a box with 200 passwords


class Secrets:
    """Every secret this box knows (configured, declared by hooks, found at a look), and the one redaction of
    everything that leaves the process: the log, the status (CLI, page, MQTT), cases, fault windows, answers,
    photos and uploads. Safe from any thread; it only grows while the agent runs."""

    def __init__(self, values: Iterable[str] = ()):
        self._lock = threading.Lock()
        self._configured = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LEN}
        self._known: set[str] = set(self._configured)
        self._redactor = Redactor(self._known)

    def add(self, values: Iterable[str]) -> None:
        """Values a hook declares; past MAX_KNOWN more are ignored (the configured ones always count)."""
        new = {v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LEN} - self._known
        room = MAX_KNOWN - (len(self._known) - len(self._configured))
        if not new or room <= 0:
            return
        with self._lock:
            self._known |= set(sorted(new)[:room])
            self._redactor = Redactor(self._known)

    def values(self) -> list[str]:
        return sorted(self._known)

    def redactor(self) -> Redactor:
        """A redactor for one output, with its own counts."""
        return self._redactor.fresh()

    def text(self, s: str, where: str = "output") -> str:
        return self.redactor().text(s, where)

    def data(self, obj: Any, where: str = "output") -> Any:
        return self.redactor().data(obj, where)

    def strings(self, obj: Any, where: str = "output") -> Any:
        return self.redactor().strings(obj, where)


class SecretFilter(logging.Filter):
    """Every log record scrubbed of the box's secrets (as they are known now) and of passwords in URLs, and
    shown one line, with no control character from outside (agent/text.py)."""

    def __init__(self, secrets: Secrets | Iterable[str]):
        super().__init__()
        self._secrets = secrets if isinstance(secrets, Secrets) else Secrets(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        from agent.text import shown

        message = record.getMessage()
        clean = shown(self._secrets.text(message, "log"), one_line=True)
        if clean != message:
            record.msg, record.args = clean, None
        return True
