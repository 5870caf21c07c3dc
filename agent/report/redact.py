"""Secrets out of everything that leaves the device: by key in structured data, by value everywhere.

Also, as an option, consistent pseudonyms for identifiers (MAC and IP addresses, vehicle ids).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from collections import Counter
from typing import Any, Iterable

MASK = "[REDACTED]"
# A key naming a secret: password, passwd, secret, token, key, psk, credential(s), auth(orization), ...
SECRET_KEY = re.compile(r"(password|passwd|passphrase|secret|token|(^|[_-])(api[_-]?)?key$|private[_-]?key"
                        r"|psk|credential|(^|[_-])auth($|[_-]|orization)|cookie)", re.I)
# Keys that contain those words but name no secret: they name a file, or say yes or no.
NOT_SECRET = {"cloud_credentials_file", "cloud_credentials", "secrets_declared", "key_file"}
URL_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://)([^/\s:@]+):([^/\s@]+)@", re.I)
MAC = re.compile(r"\b[0-9a-f]{2}(?::[0-9a-f]{2}){5}\b", re.I)
IPV4 = re.compile(r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b")
MIN_SECRET_LEN = 4  # shorter values would scrub ordinary text; such a secret is no secret anyway


def is_secret_key(key: str) -> bool:
    return key.lower() not in NOT_SECRET and bool(SECRET_KEY.search(key))


class Redactor:
    """Scrubs one report. `counts` says where and how much was redacted, never what."""

    def __init__(self, secrets: Iterable[str] = (), pseudonym_key: bytes | None = None):
        values = sorted({s for s in secrets if isinstance(s, str) and len(s) >= MIN_SECRET_LEN}, key=len,
                        reverse=True)
        self._values = re.compile("|".join(re.escape(v) for v in values)) if values else None
        self._pseudo_key = pseudonym_key
        self.counts: Counter[tuple[str, str]] = Counter()  # (where, how) -> n

    def text(self, s: str, where: str) -> str:
        """Scrub a string: known secret values, passwords in URLs, and (optionally) identifiers."""
        if self._values is not None:
            s, n = self._values.subn(MASK, s)
            if n:
                self.counts[(where, "value")] += n
        s, n = URL_USERINFO.subn(lambda m: f"{m.group(1)}{m.group(2)}:{MASK}@", s)
        if n:
            self.counts[(where, "url password")] += n
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
