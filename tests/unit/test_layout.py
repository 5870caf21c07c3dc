"""The house follows the report: one package per stage on the box, the backend, the rigs and the tools as packages
of their own with one direction of imports between them, no import cycle, no path edit, and each outside library
behind its one module. Sizes are bounded by complexity (ruff's C901 and PLR0912/PLR0915, in pyproject.toml), not
here."""

from __future__ import annotations

import ast

from rigs import peers

ROOT = peers.ROOT
AGENT = ROOT / "agent"
PACKAGES = ("agent", "backend", "rigs", "tools")
STAGES = ("channels", "devices", "health", "watch", "recorder", "report", "outbox", "transports", "service", "cli")
# The one module that may import each library whose API moves or that is costly to load.
ONE_HOME = {
    "paho": {"transports/mqtt.py"},
    "pymodbus": {"devices/modbus.py"},
    "waitress": {"channels/guard.py"},  # the server; web.py is the app
    "gpiozero": {"channels/button.py"},
}
# What each package may import of the others (the backend: of the box only the contract, wire and the bundle).
ALLOWED = {
    "agent": set(),
    "backend": {"agent.contract", "agent.wire", "agent.report.bundle"},
    "rigs": {"agent", "backend"},
    "tools": {"agent", "backend", "rigs"},
}


def modules(package: str = "agent") -> dict[str, ast.Module]:
    top = ROOT / package
    return {str(p.relative_to(top)): ast.parse(p.read_text(), str(p)) for p in sorted(top.rglob("*.py"))}


def imported(tree: ast.Module, top_level_only: bool = False) -> set[str]:
    names = set()
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


def test_every_stage_is_a_package_and_every_module_says_what_it_holds():
    for stage in STAGES:
        assert (AGENT / stage / "__init__.py").is_file(), stage
    for package in PACKAGES:
        for name, tree in modules(package).items():
            doc = ast.get_docstring(tree)
            if name.endswith("__init__.py") and not tree.body:
                continue  # an empty package marker
            assert doc and len(doc.splitlines()[0]) > 20, f"{package}/{name} does not start by saying what it holds"


def test_each_package_imports_only_what_its_direction_allows():
    for package, allowed in ALLOWED.items():
        others = {p for p in PACKAGES if p != package}
        for name, tree in modules(package).items():
            for m in imported(tree):
                if m.split(".")[0] not in others:
                    continue
                ok = any(m == a or m.startswith(a + ".") or a == m.split(".")[0] for a in allowed)
                assert ok, f"{package}/{name} imports {m}; {package} may import only {sorted(allowed) or 'itself'}"


# Written in pieces so that this file is not a finding of its own (a grep for them stays empty).
FORBIDDEN = ("sys." + "path", "PYTHON" + "PATH", "spec_from_" + "file_location")


def test_no_path_edits_and_no_module_loaded_by_path():
    for folder in (*PACKAGES, "tests", "scripts"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            for forbidden in FORBIDDEN:
                assert forbidden not in text, f"{path.relative_to(ROOT)}: {forbidden}"


def _runtime_imports(tree: ast.Module) -> set[str]:
    """Every import the module makes when it runs, at any depth (a function's import too); not those under
    `if TYPE_CHECKING:`, which only a type checker reads."""
    names: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            return
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return names


def _import_graph(package: str) -> dict[str, set[str]]:
    """Which of PACKAGE's modules each of its modules imports when it runs. A package's __init__ and its own
    children are not an edge of meaning (it re-exports them, they sit inside it)."""
    graph: dict[str, set[str]] = {}
    for name, tree in modules(package).items():
        module = f"{package}." + name.removesuffix(".py").replace("/", ".")
        graph[module.removesuffix(".__init__")] = {m for m in _runtime_imports(tree) if m.split(".")[0] == package}
    known = set(graph)

    def owner(m: str) -> str:
        return m if m in known else m.rsplit(".", 1)[0]

    return {
        m: {owner(t) for t in ts} & known - {m} - {p for p in known if m.startswith(p + ".")} for m, ts in graph.items()
    }


def _cycles(package: str) -> list[list[str]]:
    """Groups of PACKAGE's modules that import each other, however deep the import (Tarjan's strongly
    connected components of the import graph)."""
    edges = _import_graph(package)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = [stack.pop()]
            while group[-1] != v:
                group.append(stack.pop())
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            connect(v)
    return found


def test_no_import_cycle_in_any_package():
    for package in PACKAGES:
        assert _cycles(package) == [], package


def test_only_the_entry_point_imports_the_daemon_or_its_service_package():
    for name, tree in modules().items():
        if name.startswith("service/") or name == "cli/main.py":
            continue
        reaching = {m for m in imported(tree) if m == "agent.service" or m.startswith("agent.service.")}
        assert not reaching, f"{name} imports {reaching}"
    cli = modules()["cli/main.py"]
    assert "agent.service.daemon" in imported(cli)


def test_the_box_never_imports_the_backends_side():
    """The helpdesk and its database are support's side: nothing of them is on the box."""
    backend = ("django", "helpdesk", "rest_framework", "psycopg", "aiosmtpd")
    for name, tree in modules().items():
        uses = {m for m in imported(tree) if m.split(".")[0] in backend}
        assert not uses, f"{name} imports {uses}"


def test_each_outside_library_lives_in_its_one_module():
    for name, tree in modules().items():
        for library, homes in ONE_HOME.items():
            uses = {m for m in imported(tree) if m == library or m.startswith(library + ".")}
            assert not uses or name in homes, f"{name} imports {library}; only {homes} may"
