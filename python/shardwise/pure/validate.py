"""Every argument check of the pure twins, in one place: the same checks, in the same order, with
the same messages as the Rust bindings' ``validate.rs`` (tests feed both one table of bad inputs).

Rules: node names are ``str``; numbers (weights, settings) are ``int``, ``float`` or numpy
integer/floating scalars — never ``bool``, ``str``, ``None``, ``Decimal``, ``Fraction`` or arrays —
and an int too large for a float counts as infinite (then refused by the range check); integer
parameters are ``int`` (not ``bool``) within their range; ``out=`` buffers are writable, aligned,
C-contiguous numpy arrays of the result dtype and shape that share no memory with the keys.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from shardwise.errors import ConfigurationError


def type_name(obj: object) -> str:
    return type(obj).__name__


def quoted(name: str) -> str:
    """``name`` as the messages quote it (Python's ``repr`` of a str)."""
    return repr(name)


def node_name(obj: object) -> str:
    """A node name: a ``str``."""
    if not isinstance(obj, str):
        raise TypeError(f"node names must be str, not {type_name(obj)}")
    return obj


def number(what: str, obj: object) -> float:
    """A real number as a float; ``what`` names it in the error."""
    if isinstance(obj, bool) or not isinstance(obj, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what} must be a number, not {type_name(obj)}")
    try:
        return float(obj)
    except OverflowError:  # an int beyond the float range: infinite, refused by the range check
        return -math.inf if obj < 0 else math.inf


def weight(name: str, obj: object) -> float:
    """A node's weight (a real number; its range is checked by the algorithm)."""
    return number(f"weight of node {quoted(name)}", obj)


def text_param(name: str, value: object) -> str:
    """A text parameter: a ``str``."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, not {type_name(value)}")
    return value


def int_param(name: str, value: object, low: int, high: int) -> int:
    """An integer parameter in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type_name(value)}")
    if not low <= value <= high:
        raise ConfigurationError(f"{name} must be an int in [{low}, {high}], got {value}")
    return value


def u32_value(value: object) -> int:
    """A saved state's int in ``[0, 2**32)`` (not a bool); ``ValueError`` for anything else."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**32:
        raise ValueError(value)
    return value


def u32_list(value: object) -> list[int]:
    """A saved state's list (or tuple) of such ints; ``ValueError`` for anything else."""
    if not isinstance(value, (list, tuple)):
        raise ValueError(value)
    return [u32_value(item) for item in value]


def callable_setting(what: str, obj: object) -> None:
    """A callable (the ``clock=`` setting)."""
    if not callable(obj):
        raise TypeError(f"{what} must be a callable returning seconds, not {type_name(obj)}")


def check_out(out: object, shape: tuple[int, ...], dtype: Any, keys: object) -> Any:
    """The ``out=`` argument of a bulk function: a writable, aligned, C-contiguous numpy array of
    ``dtype`` and exactly ``shape`` that shares no memory with ``keys``."""
    want = np.dtype(dtype)
    kind = "1-D" if len(shape) == 1 else "(" + ", ".join(map(str, shape)) + ")"
    if not isinstance(out, np.ndarray) or out.ndim != len(shape) or out.dtype != want:
        what = (
            f"an array of dtype {out.dtype} and shape {list(out.shape)}"
            if isinstance(out, np.ndarray)
            else type_name(out)
        )
        raise TypeError(f"out must be a {kind} numpy array of {want}, not {what}")
    if out.shape != shape:
        if len(shape) == 1:
            raise ValueError(f"out has {len(out)} slots but there are {shape[0]} keys")
        have = "(" + ", ".join(map(str, out.shape)) + ")"
        raise ValueError(f"out has shape {have} but {kind} is needed")
    if not out.flags.writeable:
        raise ValueError("out is not writable")
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous")
    if not out.flags.aligned:
        raise ValueError("out must be aligned")
    if isinstance(keys, np.ndarray) and np.may_share_memory(out, keys):
        raise ValueError("out must not share memory with the keys")
    return out
