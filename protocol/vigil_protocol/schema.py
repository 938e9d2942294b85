"""Derive the JSON Schema of the protocol's messages from their dataclasses.

`protocol_schema()` is what docs/protocol.schema.json holds (a test keeps the file current), so
a client in any language can check what it sends and receives.
"""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from enum import Enum
import types
import typing
from typing import Any, Literal, TypeAliasType, Union, get_args, get_origin

from .codec import JsonValue, kind_of
from .messages import PROTOCOL_VERSION, ClientMessage, ServerMessage

type Schema = dict[str, Any]


class _Builder:
    def __init__(self) -> None:
        self.defs: dict[str, Schema] = {}

    def of(self, tp: Any) -> Schema:
        if isinstance(tp, TypeAliasType):
            if tp is JsonValue:
                return {"description": "Any JSON value."}
            return self.of(tp.__value__)
        origin = get_origin(tp)
        if origin is Literal:
            return {"enum": list(get_args(tp))}
        if origin in (Union, types.UnionType):
            return self._union(tp)
        if origin is tuple:
            args = get_args(tp)
            if len(args) == 2 and args[1] is Ellipsis:
                return {"type": "array", "items": self.of(args[0])}
            return {
                "type": "array",
                "prefixItems": [self.of(a) for a in args],
                "minItems": len(args),
                "maxItems": len(args),
            }
        if origin in (dict, Mapping):
            args = get_args(tp)
            return {"type": "object", "additionalProperties": self.of(args[1]) if args else {}}
        if origin is list:
            return {"type": "array", "items": self.of(get_args(tp)[0])}
        return self._class(tp)

    def _union(self, tp: Any) -> Schema:
        args = get_args(tp)
        options = [self.of(a) for a in args if a is not type(None)]
        if type(None) in args:
            options.append({"type": "null"})
        return options[0] if len(options) == 1 else {"anyOf": options}

    def _class(self, tp: type[Any]) -> Schema:
        simple = {bool: "boolean", int: "integer", float: "number", str: "string"}
        if tp in simple:
            return {"type": simple[tp]}
        if tp is type(None):
            return {"type": "null"}
        if issubclass(tp, Enum):
            return {"enum": [m.value for m in tp]}
        if dataclasses.is_dataclass(tp):
            return self._dataclass(tp)
        raise TypeError(f"no schema for {tp!r}")  # pragma: no cover - a protocol bug

    def _dataclass(self, tp: type[Any]) -> Schema:
        name = tp.__name__
        if name not in self.defs:
            self.defs[name] = {}  # placeholder: a recursive reference finds it
            hints = typing.get_type_hints(tp)
            properties: dict[str, Schema] = {}
            required: list[str] = []
            kind = kind_of(tp)
            if kind is not None:
                properties["kind"] = {"const": kind}
                required.append("kind")
            for field in dataclasses.fields(tp):
                properties[field.name] = self.of(hints[field.name])
                if (
                    field.default is dataclasses.MISSING
                    and field.default_factory is dataclasses.MISSING
                ):
                    required.append(field.name)
            self.defs[name] = {
                "type": "object",
                "description": (tp.__doc__ or "").strip().split("\n")[0],
                "properties": properties,
                "required": required,
            }
        return {"$ref": f"#/$defs/{name}"}


def protocol_schema() -> Schema:
    """Return the JSON Schema of every message, keyed by who sends it."""
    builder = _Builder()
    client = builder.of(ClientMessage)
    server = builder.of(ServerMessage)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/vigil-project/vigil/docs/protocol.schema.json",
        "title": f"Vigil protocol {PROTOCOL_VERSION}",
        "description": "One WebSocket text frame holds one message (see docs/protocol.md).",
        "oneOf": [
            {"title": "client message", **client},
            {"title": "server message", **server},
        ],
        "$defs": dict(sorted(builder.defs.items())),
    }


if __name__ == "__main__":
    import json
    import sys

    json.dump(protocol_schema(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")
