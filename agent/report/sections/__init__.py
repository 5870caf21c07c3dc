"""The report's sections, one module each, in the spirit of sos' plugins.

A section module declares:
  NAME       its name (the bundle member is NAME.json unless it writes its own members)
  ORDER      its place in the bundle
  collect(box, cfg) -> data     what it takes from a Box
and may declare:
  COMPACT    True for bulk data written without indentation
  CUT_ORDER, cut(data) -> note or None   how it shrinks when the report is over its size cap
             (sections are cut in CUT_ORDER; each cut halves something and says what)
  members(data) -> [Section]    its own bundle members instead of NAME.json
  redact(data, redactor) -> data  its own way through the redactor (default: by key and by value)
Redaction applies to every section alike (agent/redact.py). Adding a section is one new file here.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def _discover() -> list[ModuleType]:
    found = [importlib.import_module(f"{__name__}.{m.name}") for m in pkgutil.iter_modules(__path__)]
    return sorted(found, key=lambda m: m.ORDER)


# A section's NAME is its module's name (tests/test_report.py holds that true), so the names are known
# without loading the modules: a request is checked long before the first report needs them.
SECTION_NAMES: tuple[str, ...] = tuple(sorted(m.name for m in pkgutil.iter_modules(__path__)))


def __getattr__(name: str):
    if name == "SECTIONS":  # loaded with the first report (PEP 562)
        globals()["SECTIONS"] = _discover()
        return globals()["SECTIONS"]
    raise AttributeError(name)
