"""Typed validation of plain YAML data into frozen dataclasses.

One small recursive checker driven by the dataclasses' type hints: unknown keys are
rejected, wrong types and out-of-range values name the field path (``search.trials``).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
import unicodedata
from collections.abc import Iterable
from typing import Any, Literal, Union

from sttune.errors import RecipeError


class SchemaError(RecipeError):
    """A value does not fit the schema; ``path`` says where."""

    def __init__(self, path: str, message: str, hint: str | None = None) -> None:
        super().__init__(f"{path or 'top level'}: {message}", hint)
        self.path = path


ECHO_LIMIT = 60  # characters of a value an error message repeats: a huge value must not become a huge line


def clip(text: str, limit: int = 5 * ECHO_LIMIT) -> str:
    """``text`` cut to ``limit`` characters: an error echoes values and messages back, and a
    huge one must not become a huge line."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def short(value: Any) -> str:
    """``repr(value)``, clipped to :data:`ECHO_LIMIT` characters."""
    return clip(repr(value), ECHO_LIMIT)


def control_char(text: str) -> str | None:
    """The first control character (NUL, escape, newline, ...) in ``text``, if any."""
    return next((c for c in text if unicodedata.category(c) == "Cc"), None)


def _join(path: str, key: str | int) -> str:
    return f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else key)


def _type_name(tp: Any) -> str:
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " or ".join(repr(a) for a in typing.get_args(tp))
    if origin in (list, tuple):
        return "a list"
    if origin is dict:
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(tp, str(tp))


def parse(tp: Any, value: Any, path: str = "") -> Any:
    """Check ``value`` against type ``tp`` and build it (dataclasses from mappings)."""
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        return _parse_union(typing.get_args(tp), value, path)
    if dataclasses.is_dataclass(tp):
        return parse_dataclass(tp, value, path)
    if tp is Any:
        return check_plain(value, path)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise SchemaError(path, f"got {short(value)}, expected {_type_name(tp)}")
        return value
    if origin in (list, tuple):
        return _parse_sequence(tp, value, path)
    if origin is dict:
        if not isinstance(value, dict):
            raise SchemaError(path, f"expected a mapping, got {type(value).__name__}")
        _check_keys(value, path)
        key_tp, val_tp = typing.get_args(tp)
        return {parse(key_tp, k, path): parse(val_tp, v, _join(path, str(k))) for k, v in value.items()}
    return _parse_scalar(tp, value, path)


def _parse_union(options: tuple[Any, ...], value: Any, path: str) -> Any:
    if value is None and type(None) in options:
        return None
    errors = []
    for option in (o for o in options if o is not type(None)):
        try:
            return parse(option, value, path)
        except SchemaError as exc:
            errors.append(exc)
    if len(errors) == 1:
        raise errors[0]
    names = " or ".join(_type_name(o) for o in options if o is not type(None))
    raise SchemaError(path, f"got {short(value)}, expected {names}")


def _parse_sequence(tp: Any, value: Any, path: str) -> Any:
    if not isinstance(value, (list, tuple)):
        raise SchemaError(path, f"expected a list, got {type(value).__name__} {short(value)}")
    args = typing.get_args(tp)
    if typing.get_origin(tp) is tuple and len(set(args)) > 1 and Ellipsis not in args:  # a record: (name, params)
        if len(value) != len(args):
            raise SchemaError(path, f"expected a list of {len(args)} items, got {len(value)}")
        return tuple(parse(item_tp, v, _join(path, i)) for i, (item_tp, v) in enumerate(zip(args, value)))
    item_tp = args[0] if args else Any
    items = [parse(item_tp, v, _join(path, i)) for i, v in enumerate(value)]
    return tuple(items) if typing.get_origin(tp) is tuple else items


INT_LIMIT = 2**63 - 1  # recipe integers end up in numpy/torch/SQL columns: 64 bits at most


def _parse_scalar(tp: Any, value: Any, path: str) -> Any:
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):  # NaN compares false with every bound: it would pass them all
            raise SchemaError(path, f"must be a finite number, got {value!r}")
        return float(value)
    if tp is int and isinstance(value, int) and not isinstance(value, bool):
        if abs(value) > INT_LIMIT:
            raise SchemaError(path, f"must be an integer within 64 bits, got one of {len(str(abs(value)))} digits")
        return value
    if tp is str and isinstance(value, str):
        return _check_text(value, path)
    if tp is bool and isinstance(value, bool):
        return value
    if tp is type(None) and value is None:
        return None
    raise SchemaError(path, f"expected {_type_name(tp)}, got {type(value).__name__} {short(value)}")


def _check_text(value: str, path: str) -> str:
    bad = control_char(value)
    if bad is not None:
        raise SchemaError(path, f"contains the control character {bad!r}: {short(value)}",
                          "remove it (names, paths and settings are plain text)")
    return value


def check_plain(value: Any, path: str) -> Any:
    """A free-form value (plugin params): plain YAML data only, checked like typed fields:
    string keys, finite numbers, 64-bit integers, no control characters. Dates, binary and
    sets (YAML can make them) are refused: plugins and the journal take plain data."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return _parse_scalar(float if isinstance(value, float) else int, value, path)
    if isinstance(value, str):
        return _check_text(value, path)
    if isinstance(value, (list, tuple)):
        return [check_plain(v, _join(path, i)) for i, v in enumerate(value)]
    if isinstance(value, dict):
        _check_keys(value, path)
        return {k: check_plain(v, _join(path, k)) for k, v in value.items()}
    raise SchemaError(path, f"expected plain data (text, a number, a list or a mapping), got {type(value).__name__} {short(value)}",
                      "quote it to pass it as text")


def _check_keys(value: dict[Any, Any], path: str) -> None:
    for key in value:
        if not isinstance(key, str):
            raise SchemaError(_join(path, short(key)), f"keys must be text, got {type(key).__name__}",
                              "quote the key")
        _check_text(key, _join(path, short(key)))


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """``did you mean `epochs`? `` for the known name closest to a misspelt ``key`` (difflib);
    "" when none is close."""
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f"did you mean `{close[0]}`? " if close else ""


def parse_dataclass(cls: type, value: Any, path: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping; rejects unknown keys, fills defaults."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise SchemaError(path, f"expected a mapping, got {type(value).__name__} {short(value)}")
    _check_keys(value, path)
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(value) - set(fields))
    if unknown:
        raise SchemaError(
            _join(path, str(unknown[0])), "unknown key",
            did_you_mean(str(unknown[0]), fields) + f"allowed keys here: {', '.join(sorted(fields))}",
        )
    kwargs = {}
    for name, f in fields.items():
        if name in value:
            kwargs[name] = parse(hints[name], value[name], _join(path, name))
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise SchemaError(_join(path, name), "is required")
    built = cls(**kwargs)
    check = getattr(built, "validate", None)
    if check is not None:
        check(path)
    return built


def to_plain(value: Any) -> Any:
    """Dataclasses → dicts, tuples → lists: the YAML-ready form of a parsed value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value
