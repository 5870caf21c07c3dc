"""The unit tier: in-process only. Starting a process here is a test in the wrong folder, and fails it."""

from __future__ import annotations

import subprocess

import pytest


class ProcessInUnitTier(AssertionError):
    pass


@pytest.fixture(autouse=True)
def no_processes(monkeypatch):
    def refuse(*args, **kwargs):
        raise ProcessInUnitTier(f"a unit test started a process: {args[0] if args else kwargs.get('args')!r}")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)
