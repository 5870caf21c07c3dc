"""The contract between the box and the support backend, in one place both sides import: the words on the wire
(case states, priorities, what a box sends, what support says, photo views, section names), their limits, and
JSON Schemas of the four documents that cross it (a receipt, a case state, a cloud command, a manifest).

The box parses with its own checks (agent/cases/book.py, agent/channels/cloud.py, transports/base.py); the
schemas say the same in a form the backend and the contract tests (tests/contract/) can check documents with.
Nothing here is loaded by the box's hot paths beyond the names: the schemas are built when asked for.
"""

from __future__ import annotations

import re

from agent.vocab import CASE_STATES_SENT, Priority

# --- the words ------------------------------------------------------------------------------------------
CASE_STATES: tuple[str, ...] = tuple(CASE_STATES_SENT)  # open, waiting (for the box), solved, reopened
PRIORITIES: tuple[str, ...] = tuple(p.value for p in sorted(Priority, reverse=True))  # high first
ARTICLE_KINDS = ("report", "follow_up", "answer", "photo", "feedback")  # what a box sends into a case
MANIFEST_KINDS = ("report", "answer", "photo", "feedback", "security_log")  # a bundle's manifest "kind"
MESSAGE_KINDS = ("question", "message", "data")  # what support says that a box shows (data: it answers alone)
ASKING = ("question", "data")  # what support says that waits for the box (a photo request is a question)
PHOTO_VIEWS = ("housing", "lid", "controller", "type_plate", "other")  # the views support may ask to see
SECTION_NAMES = (  # a report's sections, as a data request names them (agent/report/sections/, one module each)
    "buses",
    "checks",
    "config",
    "faults",
    "history",
    "hooks",
    "logs",
    "network",
    "readings",
    "recorder",
    "software",
    "system",
)
CLOUD_COMMANDS = ("report", "more_data", "onsite", "ping")
FEEDBACK = ("easy", "not easy")

# --- the limits -----------------------------------------------------------------------------------------
MAX_MESSAGES = 30  # the newest support messages a case state carries (the box keeps no more)
MAX_TEXT = 2000  # characters of one message or article text
MAX_SUBJECT = 120  # characters of a case's subject
MAX_REPORTS = 50  # report ids a case state lists
MAX_SECTIONS = 20  # sections one data request names
MAX_REPORT_ID = 64
CASE_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")  # a case number, a message id
REPORT_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")  # 20261125T075200Z-<8 hex> (agent.request.new_report_id)
SECTION = re.compile(r"^[a-z_]{1,32}$")
NONCE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
MAX_BUNDLE_BYTES = 20 << 20  # an upload the backend takes at most


def is_report_id(text: object) -> bool:
    """Whether TEXT has a report id's shape: the backend takes no other as a file name or a key."""
    return isinstance(text, str) and len(text) <= MAX_REPORT_ID and bool(REPORT_ID.match(text))


# --- the documents --------------------------------------------------------------------------------------
def _stamp() -> dict:
    return {"type": ["number", "null"], "minimum": 0}


def _pattern(regex: re.Pattern) -> dict:
    return {"type": "string", "pattern": regex.pattern}


def receipt_schema() -> dict:
    """The backend's answer to an accepted report (HTTPS body or MQTT reply)."""
    return {
        "type": "object",
        "required": ["case", "priority"],
        "properties": {
            "case": _pattern(CASE_REF),
            "priority": {"enum": list(PRIORITIES)},
            "attached": {"type": "boolean"},
            "report_id": {"type": "string", "maxLength": MAX_REPORT_ID},
            "sig": _pattern(SIGNATURE),
        },
    }


def message_schema() -> dict:
    return {
        "type": "object",
        "required": ["id", "kind", "text"],
        "properties": {
            "id": _pattern(CASE_REF),
            "kind": {"enum": list(MESSAGE_KINDS)},
            "text": {"type": "string"},
            "at": _stamp(),
            "answered": {"type": "boolean"},
            "photo": {"enum": [*PHOTO_VIEWS, None]},
            "sections": {"type": "array", "items": _pattern(SECTION), "maxItems": MAX_SECTIONS},
            "since": _stamp(),
            "until": _stamp(),
        },
    }


def case_state_schema() -> dict:
    """A case as its box reads it (sealed; over MQTT retained, or from GET /api/v1/devices/<serial>/cases)."""
    return {
        "type": "object",
        "required": ["case", "state", "priority", "version"],
        "properties": {
            "case": _pattern(CASE_REF),
            "state": {"enum": list(CASE_STATES)},
            "priority": {"enum": list(PRIORITIES)},
            "version": {"type": "integer", "minimum": 0},
            "subject": {"type": "string"},
            "messages": {"type": "array", "items": message_schema(), "maxItems": MAX_MESSAGES},
            "reports": {"type": "array", "items": {"type": "string", "maxLength": MAX_REPORT_ID}},
            "feedback": {"enum": [*FEEDBACK, None]},
            "sig": _pattern(SIGNATURE),
        },
    }


def cloud_command_schema() -> dict:
    """A signed command from the cloud (MQTT <prefix>/<serial>/cmd)."""
    return {
        "type": "object",
        "required": ["id", "ts", "type", "args", "sig"],
        "additionalProperties": False,
        "properties": {
            "id": _pattern(NONCE),
            "ts": {"type": "number"},
            "type": {"enum": list(CLOUD_COMMANDS)},
            "args": {"type": "object"},
            "sig": {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
        },
    }


def manifest_schema() -> dict:
    """The first member of every bundle: what it is, from which box, when."""
    return {
        "type": "object",
        "required": ["report_id", "kind", "trigger", "device", "created"],
        "properties": {
            "report_id": _pattern(REPORT_ID),
            "kind": {"enum": list(MANIFEST_KINDS)},
            "trigger": {"type": "string"},
            "device": {
                "type": "object",
                "required": ["model", "serial"],
                "properties": {"model": {"type": "string"}, "serial": {"type": "string"}},
            },
            "created": {"type": "object", "required": ["wall"], "properties": {"wall": {"type": "number"}}},
            "priority": {"enum": list(PRIORITIES)},
            "case_ref": {"type": ["string", "null"]},
        },
    }


SCHEMAS = {
    "receipt": receipt_schema,
    "case_state": case_state_schema,
    "cloud_command": cloud_command_schema,
    "manifest": manifest_schema,
}
