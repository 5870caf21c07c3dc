"""Load YAML into typed dataclasses, naming file, line and key on every error."""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

import yaml


class SchemaError(Exception):
    """A YAML file does not fit its schema; the message names file, line and key."""

    def __init__(self, path: Path | str, line: int | None, key: str, problem: str):
        self.path = str(path)
        self.line = line
        self.key = key
        self.problem = problem
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {key}: {problem}" if key else f"{where}: {problem}")


def number(default, lo: float, hi: float, unit: str = "", why: str = ""):
    """A numeric setting and the range the agent can live with: a value outside it is refused at load with
    the file, line and key (every number in a configuration or a profile has one; tests/test_config.py holds
    that). UNIT and WHY go into the message."""
    meta = {"range": (lo, hi), "unit": unit, "why": why}
    if default is REQUIRED:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


REQUIRED = dataclasses.MISSING  # number(REQUIRED, ...): a setting without a default


def _in_range(f: dataclasses.Field, value: Any) -> str | None:
    """None when VALUE of field F is within its declared range, else the problem in words."""
    bounds = f.metadata.get("range")
    if bounds is None or value is None:
        return None
    lo, hi = bounds
    if lo <= value <= hi:
        return None
    unit = f.metadata.get("unit")
    why = f.metadata.get("why")
    return f"expected {_n(lo)}-{_n(hi)}{' ' + unit if unit else ''}, got {_n(value)}" + (f" ({why})" if why else "")


def _n(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (a silent override hides typos)."""


def _compose(path: Path, text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise SchemaError(path, line, "", f"not valid YAML: {exc.problem}") from None
    except yaml.YAMLError as exc:
        raise SchemaError(path, None, "", f"not valid YAML: {exc}") from None


def load_file(path: Path | str, cls: type) -> Any:
    """Read PATH and build an instance of dataclass CLS from it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SchemaError(path, None, "", "file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SchemaError(path, None, "", f"cannot read: {exc}") from None
    node = _compose(path, text)
    if node is None:
        raise SchemaError(path, None, "", f"the file is empty: expected a mapping of {cls.__name__} settings")
    return build(cls, node, path, "")


def _line(node: yaml.Node) -> int | None:
    mark = getattr(node, "start_mark", None)
    return mark.line + 1 if mark is not None else None


def _scalar(node: yaml.Node, path: Path, key: str) -> Any:
    if not isinstance(node, yaml.ScalarNode):
        raise SchemaError(path, _line(node), key, "expected a single value, got a list or mapping")
    return _Loader("").construct_object(node, deep=True)


def _type_name(tp: Any) -> str:
    if typing.get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if typing.get_origin(tp) is list:
        return "a list"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(tp, str(tp))


def build(tp: Any, node: yaml.Node, path: Path, key: str) -> Any:
    """Build a value of type TP from NODE, or raise SchemaError."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return _build_optional(tp, node, path, key)
    if dataclasses.is_dataclass(tp):
        return _build_dataclass(typing.cast(type, tp), node, path, key)
    if origin is list:
        (item_tp,) = typing.get_args(tp)
        if not isinstance(node, yaml.SequenceNode):
            raise SchemaError(path, _line(node), key, "expected a list")
        return [build(item_tp, item, path, f"{key}[{i}]") for i, item in enumerate(node.value)]
    if origin is dict:
        return _build_dict(tp, node, path, key)
    return _build_scalar(tp, node, path, key)


def _build_optional(tp: Any, node: yaml.Node, path: Path, key: str) -> Any:
    options = [a for a in typing.get_args(tp) if a is not type(None)]
    null = isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"
    if null and len(options) < len(typing.get_args(tp)):
        return None
    return build(options[0], node, path, key)


def _build_dict(tp: Any, node: yaml.Node, path: Path, key: str) -> dict:
    key_tp, val_tp = typing.get_args(tp)
    if not isinstance(node, yaml.MappingNode):
        raise SchemaError(path, _line(node), key, "expected a mapping")
    out: dict = {}
    lines: dict[str, int | None] = {}
    for k_node, v_node in node.value:
        k = build(key_tp, k_node, path, key)
        sub = f"{key}.{k}" if key else str(k)
        if k in out:  # a second API_KEY must not silently replace the first
            raise SchemaError(path, _line(k_node), sub, f"given twice (first on line {lines[k]})")
        lines[k] = _line(k_node)
        out[k] = build(val_tp, v_node, path, sub)
    return out


def _build_scalar(tp: Any, node: yaml.Node, path: Path, key: str) -> Any:
    value = _scalar(node, path, key)
    if typing.get_origin(tp) is Literal:
        if value not in typing.get_args(tp):
            raise SchemaError(path, _line(node), key, f"expected {_type_name(tp)}, got {value!r}")
        return value
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp is str and isinstance(value, (int, float)) and not isinstance(value, bool):
        # Serial numbers and versions are often written bare (1234, 1.20).
        return node.value
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise SchemaError(path, _line(node), key, f"expected {_type_name(tp)}, got {value!r}")
    return value


def _build_dataclass(cls: type, node: yaml.Node, path: Path, key: str) -> Any:
    if not isinstance(node, yaml.MappingNode):
        raise SchemaError(path, _line(node), key, f"expected a mapping of {cls.__name__} settings")
    given, seen = _given_fields(cls, node, path, key)
    try:
        obj = cls(**given)
    except ValueError as exc:
        raise SchemaError(path, _line(node), key, str(exc)) from None
    # Remember where each field was written, so later cross-checks can point at it.
    object.__setattr__(obj, "_yaml_where", (path, key, _line(node), seen))
    check = getattr(obj, "validate", None)
    if check:
        try:
            check()
        except ValueError as exc:
            # validate() raises ValueError("field: problem") to point at one field.
            field, _, problem = str(exc).partition(": ")
            raise error_at(obj, field, problem) from None
    return obj


def _given_fields(
    cls: type, node: yaml.MappingNode, path: Path, key: str
) -> tuple[dict[str, Any], dict[str, int | None]]:
    """The settings NODE gives for CLS, each built, once, known and in range; and the line of each."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    given: dict[str, Any] = {}
    seen: dict[str, int | None] = {}
    for k_node, v_node in node.value:
        name = _scalar(k_node, path, key)
        sub = f"{key}.{name}" if key else str(name)
        if name in seen:
            raise SchemaError(path, _line(k_node), sub, f"given twice (first on line {seen[name]})")
        seen[name] = _line(k_node)
        if name not in fields:
            raise SchemaError(path, _line(k_node), sub, f"unknown key (known keys: {', '.join(sorted(fields))})")
        given[name] = build(hints[name], v_node, path, sub)
        problem = _in_range(fields[name], given[name])
        if problem:
            raise SchemaError(path, _line(v_node), sub, problem)
    for name, f in fields.items():
        if name not in given and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SchemaError(path, _line(node), f"{key}.{name}" if key else name, "required key is missing")
    return given, seen


def error_at(obj: Any, field: str, problem: str) -> SchemaError:
    """A SchemaError pointing at FIELD of an object that build() made."""
    path, key, line, lines = getattr(obj, "_yaml_where", ("(defaults)", "", None, {}))
    lines = typing.cast(dict[str, int | None], lines)
    return SchemaError(path, lines.get(field, line), f"{key}.{field}" if key else field, problem)


def placeholder_problem(template: str, known: tuple[str, ...]) -> str | None:
    """None when TEMPLATE is a format string naming only KNOWN placeholders, else what is wrong."""
    import string

    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        return f"not a usable template ({exc}); write a literal brace as {{{{ or }}}}"
    if any(spec or conv for _, spec, conv in fields):  # a width of 10**9 is a way to fill the memory
        return "a placeholder takes no format or conversion here: write it bare, as {serial}"
    names = [name for name, _, _ in fields]
    wrong = [n for n in names if n not in known]
    if wrong:
        return f"unknown placeholder {{{wrong[0]}}}; the placeholders are " + ", ".join("{" + k + "}" for k in known)
    return None
