"""The structs of Arrow's C data and stream interfaces in ctypes, taken out of the PyCapsules that
carry them and released as the interface prescribes (the twin of rust/shardwise-py/src/arrow/ffi.rs;
the test producer in tests/arrow_capsules.py builds its arrays from the same structs)."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

RELEASE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class ArrowSchema(ctypes.Structure):
    """``struct ArrowSchema``."""


ArrowSchema._fields_ = [
    ("format", ctypes.c_char_p),
    ("name", ctypes.c_char_p),
    ("metadata", ctypes.c_char_p),
    ("flags", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("children", ctypes.c_void_p),
    ("dictionary", ctypes.POINTER(ArrowSchema)),
    ("release", RELEASE),
    ("private_data", ctypes.c_void_p),
]


class ArrowArray(ctypes.Structure):
    """``struct ArrowArray``."""


ArrowArray._fields_ = [
    ("length", ctypes.c_int64),
    ("null_count", ctypes.c_int64),
    ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.c_void_p),
    ("dictionary", ctypes.POINTER(ArrowArray)),
    ("release", RELEASE),
    ("private_data", ctypes.c_void_p),
]


class ArrowArrayStream(ctypes.Structure):
    """``struct ArrowArrayStream``."""


STREAM_POINTER = ctypes.POINTER(ArrowArrayStream)
GET_SCHEMA = ctypes.CFUNCTYPE(ctypes.c_int, STREAM_POINTER, ctypes.c_void_p)
GET_NEXT = ctypes.CFUNCTYPE(ctypes.c_int, STREAM_POINTER, ctypes.c_void_p)
GET_LAST_ERROR = ctypes.CFUNCTYPE(ctypes.c_void_p, STREAM_POINTER)
STREAM_RELEASE = ctypes.CFUNCTYPE(None, STREAM_POINTER)

ArrowArrayStream._fields_ = [
    ("get_schema", GET_SCHEMA),
    ("get_next", GET_NEXT),
    ("get_last_error", GET_LAST_ERROR),
    ("release", STREAM_RELEASE),
    ("private_data", ctypes.c_void_p),
]

Struct = TypeVar("Struct", ArrowSchema, ArrowArray, ArrowArrayStream)

_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def released(struct: ctypes.Structure) -> bool:
    return not struct.release


def take(capsule: Any, name: bytes, kind: type[Struct]) -> Struct:
    """Move the struct out of a capsule named ``name`` (left released, as a consumer that takes
    ownership must); refused if it is no such capsule or was consumed already."""
    shown = '"' + name.decode() + '"'
    if type(capsule).__name__ != "PyCapsule":
        raise TypeError(f"the Arrow export did not return a {shown} capsule")
    address = _get_pointer(capsule, name)  # raises ValueError for another name
    moved = kind.from_buffer_copy(kind.from_address(address))
    ctypes.memset(address, 0, ctypes.sizeof(kind))
    if released(moved):
        raise ValueError(f"the Arrow {shown} capsule was already consumed")
    return moved


def release(struct: ctypes.Structure) -> None:
    """Call the struct's release callback (once)."""
    if not released(struct):
        stream = isinstance(struct, ArrowArrayStream)
        struct.release(ctypes.byref(struct) if stream else ctypes.addressof(struct))


@contextmanager
def owned(structs: list[Any]) -> Iterator[list[Any]]:
    """Release every struct of ``structs`` (which may grow inside) on the way out."""
    try:
        yield structs
    finally:
        for struct in reversed(structs):
            release(struct)


def _stream_error(stream: ArrowArrayStream, code: int) -> ValueError:
    text = None
    if stream.get_last_error:
        address = stream.get_last_error(ctypes.byref(stream))
        if address:
            text = ctypes.string_at(address).decode("utf-8", "replace")
    return ValueError(f"reading the Arrow stream failed: {text or f'error code {code}'}")


def drain(stream: ArrowArrayStream, into: list[Any]) -> tuple[ArrowSchema, list[ArrowArray]]:
    """A stream's schema and every array, in order (each appended to ``into`` to be released)."""
    if not (stream.get_schema and stream.get_next):
        raise ValueError("malformed Arrow data: stream without callbacks")
    schema = ArrowSchema()
    code = stream.get_schema(ctypes.byref(stream), ctypes.addressof(schema))
    if code != 0:
        raise _stream_error(stream, code)
    into.append(schema)
    if released(schema):
        raise ValueError("malformed Arrow data: the stream gave a released schema")
    arrays: list[ArrowArray] = []
    while True:
        array = ArrowArray()
        code = stream.get_next(ctypes.byref(stream), ctypes.addressof(array))
        if code != 0:
            raise _stream_error(stream, code)
        if released(array):
            return schema, arrays
        into.append(array)
        arrays.append(array)
