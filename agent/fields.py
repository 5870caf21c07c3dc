"""The limits of what the firmware and people hand the agent besides a report request (agent/request.py has
those): one home, read by the validators and by the command line's --help, which must not load the rest."""

from __future__ import annotations

import re

EVENT_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
EVENT_CODE_WORDS = "1-64 letters, digits, '_', '.' or '-'"
FAULT_MESSAGE_CHARS = (1, 500)  # a firmware event's message: (fewest, most) characters
FIRMWARE_VERSION_CHARS = (1, 64)  # an "updated" event's version
ANSWER_CHARS = (2, 2000)  # an answer to support's question
