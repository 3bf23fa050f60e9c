"""The key encoding contract, in pure Python (the twin of rust/shardwise-py/src/keys.rs)."""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any, SupportsIndex

import numpy as np

from shardwise._key_inputs import pandas_keys
from shardwise.pure.arrow_keys import arrow_key_list, has_arrow

ACCEPTED = "str, bytes, bytearray, memoryview or int"
INT_MIN = -(2**63)
INT_LIMIT = 2**64


def _type_name(obj: object) -> str:
    return type(obj).__name__


def _is_bool(obj: object) -> bool:
    return isinstance(obj, (bool, np.bool_))


def key_int(key: object) -> int | None:
    """The key as an unsigned 64-bit pattern if it is an int key, else None."""
    if _is_bool(key):
        return None
    if isinstance(key, int):
        value = key
    elif isinstance(key, np.integer):
        value = int(key)
    elif isinstance(key, SupportsIndex):
        # Any other integer-like object (e.g. a 0-d numpy int array), as the Rust side accepts.
        try:
            value = operator.index(key)
        except TypeError:
            return None
    else:
        return None
    if not INT_MIN <= value < INT_LIMIT:
        raise OverflowError(f"int key {value} is outside the key range [-2**63, 2**64)")
    return value & (INT_LIMIT - 1)


def encode_key(key: object) -> bytes:
    """The bytes a key is hashed as."""
    if isinstance(key, str):
        return key.encode("utf-8")
    if isinstance(key, bytes):
        return key
    if isinstance(key, (bytearray, memoryview)):
        return bytes(key) if isinstance(key, bytearray) else key.tobytes()
    bits = key_int(key)
    if bits is None:
        hint = " (bool is refused: it is almost always a bug)" if _is_bool(key) else ""
        raise TypeError(f"key must be {ACCEPTED}, not {_type_name(key)}{hint}")
    return bits.to_bytes(8, "little")


def _kind(key: object) -> str:
    if isinstance(key, str):
        return "str"
    if isinstance(key, (bytes, bytearray, memoryview)):
        return "bytes-like"
    return "int"


def as_key_list(keys: Any) -> list[Any]:
    """A bulk input as a list of single keys, validated as the Rust side validates it."""
    items: Iterable[Any]
    if isinstance(keys, np.ndarray):
        if keys.ndim != 1:
            raise ValueError(
                f"keys must be a 1-D array, got a {keys.ndim}-D array of shape {tuple(keys.shape)}"
            )
        if keys.dtype.kind not in "iuSUOT":
            raise TypeError(
                f"keys array has dtype {keys.dtype}; use an integer, bytes (S), str (U) or object array"
            )
        items = keys.tolist()
    elif isinstance(keys, (list, tuple)):
        items = keys
    elif (unwrapped := pandas_keys(keys)) is not None:
        return as_key_list(unwrapped if isinstance(unwrapped, np.ndarray) else arrow_key_list(unwrapped))
    elif has_arrow(keys):
        items = arrow_key_list(keys)
    else:
        hint = " (for one key use the function without _many)" if isinstance(keys, (str, bytes)) else ""
        raise TypeError(
            "keys must be a numpy array, list, tuple, pandas Series/Index or Arrow array, "
            f"not {_type_name(keys)}{hint}"
        )
    out = list(items)
    first_kind: str | None = None
    for i, key in enumerate(out):
        try:
            encode_key(key)
        except TypeError:
            hint = " (bool is refused: it is almost always a bug)" if _is_bool(key) else ""
            raise TypeError(f"keys[{i}] must be {ACCEPTED}, not {_type_name(key)}{hint}") from None
        except OverflowError as exc:
            raise OverflowError(f"keys[{i}]: {exc}") from None
        except ValueError as exc:  # e.g. UnicodeEncodeError for a lone surrogate
            raise ValueError(f"keys[{i}]: {exc}") from None
        kind = _kind(key)
        if first_kind is None:
            first_kind = kind
        elif kind != first_kind:
            raise TypeError(
                f"mixed key kinds: keys[0] is {first_kind} but keys[{i}] is {kind}; use one kind per batch"
            )
    return out
