"""The house follows the report: one package per stage, small modules and classes, channels and the
report and transport stages never reaching into the daemon, and each outside library behind its one module."""

from __future__ import annotations

import ast
from pathlib import Path

import peers
import pytest

AGENT = Path(__file__).resolve().parent.parent / "agent"
STAGES = ("channels", "devices", "health", "watch", "recorder", "report", "outbox", "transports", "service", "cli")
MAX_MODULE_LINES, MAX_CLASS_LINES = 400, 150
# The one module that may import each library whose API moves or that is costly to load.
ONE_HOME = {
    "paho": {"transports/mqtt.py"},
    "pymodbus": {"devices/modbus.py"},
    "waitress": {"channels/guard.py"},  # the server; web.py is the app
    "gpiozero": {"channels/button.py"},
}


def modules() -> dict[str, ast.Module]:
    return {str(p.relative_to(AGENT)): ast.parse(p.read_text(), str(p)) for p in sorted(AGENT.rglob("*.py"))}


def imported(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_every_stage_is_a_package_and_every_module_says_what_it_holds():
    for stage in STAGES:
        assert (AGENT / stage / "__init__.py").is_file(), stage
    for name, tree in modules().items():
        doc = ast.get_docstring(tree)
        assert doc and len(doc.splitlines()[0]) > 20, f"{name} does not start by saying what it holds"


def test_no_module_over_400_lines_and_no_class_over_150():
    for name, tree in modules().items():
        lines = (AGENT / name).read_text().count("\n")
        assert lines <= MAX_MODULE_LINES, f"{name}: {lines} lines"
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                size = node.end_lineno - node.lineno + 1
                assert size <= MAX_CLASS_LINES, f"{name}: class {node.name} has {size} lines"


def test_only_the_entry_point_imports_the_daemon_or_its_service_package():
    for name, tree in modules().items():
        if name.startswith("service/") or name == "cli/main.py":
            continue
        reaching = {m for m in imported(tree) if m == "agent.service" or m.startswith("agent.service.")}
        assert not reaching, f"{name} imports {reaching}"
    cli = modules()["cli/main.py"]
    assert imported(cli) & {"agent.service", "agent.service.daemon"} == {"agent.service.daemon"}


def test_the_box_never_imports_the_backends_side():
    """The helpdesk and its database are support's side: nothing of them is on the box."""
    backend = ("django", "helpdesk", "rest_framework", "psycopg", "intake_cases", "support_intake")
    for name, tree in modules().items():
        uses = {m for m in imported(tree) if m.split(".")[0] in backend}
        assert not uses, f"{name} imports {uses}"


def test_each_outside_library_lives_in_its_one_module():
    for name, tree in modules().items():
        for library, homes in ONE_HOME.items():
            uses = {m for m in imported(tree) if m == library or m.startswith(library + ".")}
            assert not uses or name in homes, f"{name} imports {library}; only {homes} may"


@pytest.mark.parametrize("script", ["bench.py", "demo.py", "soak.py", "field_day.py"])
def test_every_agent_name_a_script_imports_exists(script):
    """The scripts import the agent inside functions, on first use: a name that moved breaks them only when
    they run (bench.py is not run by the suite). Each such import must resolve."""
    import importlib
    import importlib.util

    tree = ast.parse((peers.SCRIPTS / script).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("agent"):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name) or importlib.util.find_spec(f"{node.module}.{alias.name}"), (
                    f"{script}: from {node.module} import {alias.name}"
                )
