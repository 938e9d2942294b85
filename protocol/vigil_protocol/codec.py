"""Turn protocol values into JSON-ready data and back, guided by their type hints.

Every protocol value is a frozen dataclass. A class that takes part in a union carries a
``KIND`` class variable; its JSON object then holds ``"kind": KIND`` and a union is decoded by
that discriminator. Decoding checks every field against its type and names the path of the
first field that does not fit; it ignores fields it does not know, so a newer minor version of
the protocol can add optional fields without breaking older peers.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
import dataclasses
from enum import Enum
from functools import cache
import json
import math
import types
import typing
from typing import Any, ClassVar, Literal, TypeAliasType, Union, cast, get_args, get_origin

type JsonValue = str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None
"""Any JSON value: used where a field holds free-form data (a configuration, event details)."""

MAX_DEPTH = 64
"""Deepest nesting accepted in free-form JSON: a peer cannot exhaust the stack."""


class ProtocolError(ValueError):
    """A message or value does not fit the protocol; `path` names the offending field."""

    def __init__(self, message: str, path: str = "") -> None:
        """Keep the message and where in the value it applies."""
        super().__init__(f"{path}: {message}" if path else message)
        self.reason = message
        self.path = path


class Tagged:
    """Mixin for the values that take part in a union: they carry a ``KIND`` discriminator."""

    __slots__ = ()
    KIND: ClassVar[str]


def kind_of(cls: type[Any]) -> str | None:
    """Return a dataclass's discriminator, or None for a plain value."""
    return cast("str | None", getattr(cls, "KIND", None))


def encode(value: Any) -> JsonValue:
    """Return the JSON-ready form of a protocol value (raises ProtocolError on NaN or infinity)."""
    return _encode(value, "")


def _encode(value: Any, path: str) -> JsonValue:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, Enum):
        return cast("JsonValue", value.value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ProtocolError("numbers must be finite", path)
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: dict[str, JsonValue] = {}
        kind = kind_of(type(value))
        if kind is not None:
            out["kind"] = kind
        for field in dataclasses.fields(value):
            out[field.name] = _encode(getattr(value, field.name), _join(path, field.name))
        return out
    if isinstance(value, Mapping):
        return {str(key): _encode(item, _join(path, str(key))) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(item, f"{path}[{index}]") for index, item in enumerate(value)]
    raise ProtocolError(f"cannot encode a {type(value).__name__}", path)


def decode[T](cls: type[T], data: Any) -> T:
    """Return the value of type `cls` that parsed JSON `data` describes (or raise ProtocolError)."""
    return cast("T", _decode(cls, data, ""))


def dumps(value: Any) -> str:
    """Return a protocol value as compact JSON text."""
    return json.dumps(encode(value), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def loads[T](cls: type[T], text: str | bytes) -> T:
    """Parse JSON text into a value of type `cls` (ProtocolError for bad JSON or a bad value)."""
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise ProtocolError("nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise ProtocolError(f"not JSON: {err}") from None
    return decode(cls, data)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


@cache
def _hints(cls: Hashable) -> dict[str, Any]:
    return typing.get_type_hints(cls)


@cache
def _tagged_members(union: Hashable) -> dict[str, type[Any]] | None:
    """Return the union's dataclass members by kind, or None when it is not such a union."""
    members: dict[str, type[Any]] = {}
    for arg in get_args(union):
        if arg is type(None):
            continue
        kind = kind_of(arg) if isinstance(arg, type) else None
        if kind is None:
            return None
        members[kind] = arg
    return members or None


def _decode(tp: Any, data: Any, path: str) -> Any:
    if isinstance(tp, TypeAliasType):
        if tp is JsonValue:
            return _json_value(data, path, 0)
        return _decode(tp.__value__, data, path)
    if tp is Any:
        return _json_value(data, path, 0)
    origin = get_origin(tp)
    if origin is Literal:
        # `True == 1`: compare types too, so a 1 never passes for a True.
        if not any(data == a and type(data) is type(a) for a in get_args(tp)):
            allowed = ", ".join(repr(a) for a in get_args(tp))
            raise ProtocolError(f"must be one of {allowed}", path)
        return data
    if origin in (Union, types.UnionType):
        return _decode_union(tp, data, path)
    if origin is tuple:
        return _decode_tuple(tp, data, path)
    if origin in (dict, Mapping) or tp in (dict, Mapping):
        return _decode_mapping(tp, data, path)
    if origin is list:
        if not isinstance(data, list):
            raise ProtocolError("must be a list", path)
        (item,) = get_args(tp)
        return [_decode(item, v, f"{path}[{i}]") for i, v in enumerate(data)]
    if isinstance(tp, type):
        return _decode_class(tp, data, path)
    raise ProtocolError(f"unsupported type {tp!r}", path)  # pragma: no cover - a protocol bug


def _decode_class(tp: type[Any], data: Any, path: str) -> Any:
    if tp is type(None):
        if data is not None:
            raise ProtocolError("must be null", path)
        return None
    if tp is bool:
        if not isinstance(data, bool):
            raise ProtocolError("must be true or false", path)
        return data
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int):
            raise ProtocolError("must be an integer", path)
        return data
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise ProtocolError("must be a number", path)
        value = float(data)
        if not math.isfinite(value):
            raise ProtocolError("must be a finite number", path)
        return value
    if tp is str:
        if not isinstance(data, str):
            raise ProtocolError("must be a string", path)
        return data
    if issubclass(tp, Enum):
        try:
            return tp(data)
        except ValueError:
            allowed = ", ".join(repr(m.value) for m in tp)
            raise ProtocolError(f"must be one of {allowed}", path) from None
    if dataclasses.is_dataclass(tp):
        return _decode_dataclass(tp, data, path)
    raise ProtocolError(f"unsupported type {tp.__name__}", path)  # pragma: no cover


def _decode_dataclass(tp: type[Any], data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        raise ProtocolError("must be an object", path)
    kind = kind_of(tp)
    if kind is not None and data.get("kind", kind) != kind:
        raise ProtocolError(f"kind must be {kind!r}", _join(path, "kind"))
    hints = _hints(cast("Hashable", tp))
    values: dict[str, Any] = {}
    for field in dataclasses.fields(tp):
        where = _join(path, field.name)
        if field.name in data:
            values[field.name] = _decode(hints[field.name], data[field.name], where)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            raise ProtocolError("is required", where)
    try:
        return tp(**values)
    except (TypeError, ValueError) as err:
        raise ProtocolError(str(err), path) from None


def _decode_union(tp: Any, data: Any, path: str) -> Any:
    args = get_args(tp)
    if data is None:
        if type(None) in args:
            return None
        raise ProtocolError("must not be null", path)
    members = _tagged_members(tp)
    if members is not None:
        if not isinstance(data, dict):
            raise ProtocolError("must be an object", path)
        kind = data.get("kind")
        member = members.get(kind) if isinstance(kind, str) else None
        if member is None:
            allowed = ", ".join(sorted(members))
            raise ProtocolError(f"kind must be one of {allowed}", _join(path, "kind"))
        return _decode(member, data, path)
    errors: list[str] = []
    for arg in args:
        if arg is type(None):
            continue
        try:
            return _decode(arg, data, path)
        except ProtocolError as err:
            errors.append(err.reason)
    raise ProtocolError(" or ".join(dict.fromkeys(errors)), path)


def _decode_tuple(tp: Any, data: Any, path: str) -> tuple[Any, ...]:
    if not isinstance(data, list | tuple):
        raise ProtocolError("must be a list", path)
    args = get_args(tp)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(_decode(args[0], v, f"{path}[{i}]") for i, v in enumerate(data))
    if len(data) != len(args):
        raise ProtocolError(f"must have {len(args)} items", path)
    pairs = enumerate(zip(args, data, strict=True))
    return tuple(_decode(a, v, f"{path}[{i}]") for i, (a, v) in pairs)


def _decode_mapping(tp: Any, data: Any, path: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ProtocolError("must be an object", path)
    args = get_args(tp)
    item = args[1] if len(args) == 2 else Any
    out: dict[str, Any] = {}
    for key, value in data.items():
        if not isinstance(key, str):
            raise ProtocolError("keys must be strings", path)
        out[key] = _decode(item, value, _join(path, key))
    return out


def _json_value(data: Any, path: str, depth: int) -> JsonValue:
    """Check that free-form data is plain, finite JSON of bounded depth; return it."""
    if depth > MAX_DEPTH:
        raise ProtocolError(f"nested deeper than {MAX_DEPTH} levels", path)
    if data is None or isinstance(data, bool | str | int):
        return cast("JsonValue", data)
    if isinstance(data, float):
        if not math.isfinite(data):
            raise ProtocolError("must be a finite number", path)
        return data
    if isinstance(data, list | tuple):
        return [_json_value(v, f"{path}[{i}]", depth + 1) for i, v in enumerate(data)]
    if isinstance(data, dict):
        out: dict[str, JsonValue] = {}
        for key, value in data.items():
            if not isinstance(key, str):
                raise ProtocolError("keys must be strings", path)
            out[key] = _json_value(value, _join(path, key), depth + 1)
        return out
    raise ProtocolError(f"a {type(data).__name__} is not JSON", path)
