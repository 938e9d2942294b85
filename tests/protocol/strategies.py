"""Hypothesis strategies for every protocol value, derived from the same type hints as the codec."""

from __future__ import annotations

from collections.abc import Mapping
import dataclasses
from enum import Enum
import types
import typing
from typing import Any, Literal, TypeAliasType, Union, get_args, get_origin

from hypothesis import strategies as st

from vigil_protocol.codec import JsonValue

TEXT = st.text(max_size=12)
FLOATS = st.floats(allow_nan=False, allow_infinity=False, width=64)

JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | FLOATS | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


def values_of(tp: Any) -> st.SearchStrategy[Any]:
    """Return a strategy producing valid values of a protocol type."""
    if isinstance(tp, TypeAliasType):
        return JSON if tp is JsonValue else values_of(tp.__value__)
    origin = get_origin(tp)
    if origin is Literal:
        return st.sampled_from(get_args(tp))
    if origin in (Union, types.UnionType):
        return st.one_of([values_of(arg) for arg in get_args(tp)])
    if origin is tuple:
        args = get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return st.lists(values_of(args[0]), max_size=3).map(tuple)
        return st.tuples(*(values_of(arg) for arg in args))
    if origin in (dict, Mapping):
        return st.dictionaries(TEXT, values_of(get_args(tp)[1]), max_size=3)
    if tp is type(None):
        return st.none()
    simple: dict[Any, st.SearchStrategy[Any]] = {
        bool: st.booleans(),
        int: st.integers(),
        float: FLOATS,
        str: TEXT,
    }
    if tp in simple:
        return simple[tp]
    if isinstance(tp, type) and issubclass(tp, Enum):
        return st.sampled_from(list(tp))
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        fields = {
            f.name: st.deferred(lambda h=hints[f.name]: values_of(h))
            for f in dataclasses.fields(tp)
        }
        return st.builds(tp, **fields)
    raise TypeError(f"no strategy for {tp!r}")
