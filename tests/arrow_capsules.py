"""A minimal Arrow PyCapsule producer built with ctypes (on the structs of ``shardwise.pure.arrow_ffi``),
for feeding hand-made (and malformed) arrays to the key readers: every field of ``ArrowSchema``/
``ArrowArray``/``ArrowArrayStream`` is whatever the test says, whatever a library would allow. The
producer object owns every buffer and struct; release callbacks only mark a struct released (the
Python objects are freed with the producer)."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from shardwise.pure.arrow_ffi import (
    GET_LAST_ERROR,
    GET_NEXT,
    GET_SCHEMA,
    RELEASE,
    STREAM_RELEASE,
    ArrowArray,
    ArrowArrayStream,
    ArrowSchema,
)


@RELEASE
def _release_schema(address: int) -> None:
    ArrowSchema.from_address(address).release = RELEASE()


@RELEASE
def _release_array(address: int) -> None:
    ArrowArray.from_address(address).release = RELEASE()


@STREAM_RELEASE
def _release_stream(stream: Any) -> None:
    stream.contents.release = STREAM_RELEASE()


_capsule_new = ctypes.pythonapi.PyCapsule_New
_capsule_new.restype = ctypes.py_object
_capsule_new.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
_NAMES = {"schema": b"arrow_schema", "array": b"arrow_array", "stream": b"arrow_array_stream"}


def _capsule(struct: ctypes.Structure, kind: str) -> Any:
    return _capsule_new(ctypes.addressof(struct), _NAMES[kind], None)


@dataclass
class Raw:
    """One array as the C data interface lays it out. ``n_buffers`` defaults to ``len(buffers)``
    (the pointer list always holds exactly ``n_buffers`` entries, padded with NULL, so a wrong count
    is a lie the reader must catch, not a read past the list); ``buffers=None`` is a NULL list."""

    length: int
    buffers: list[Any] | None
    offset: int = 0
    null_count: int = 0
    n_buffers: int | None = None
    dictionary: Raw | None = None
    _keep: list[Any] = field(default_factory=list)

    def struct(self) -> ArrowArray:
        """A live ``ArrowArray`` pointing at this object's buffers (kept alive with it)."""
        a = ArrowArray()
        a.length, a.null_count, a.offset = self.length, self.null_count, self.offset
        count = len(self.buffers or []) if self.n_buffers is None else self.n_buffers
        a.n_buffers, a.n_children = count, 0
        if self.buffers is not None:
            pointers = (ctypes.c_void_p * max(count, 0))()
            for i, buf in enumerate(self.buffers[: max(count, 0)]):
                pointers[i] = self._address(buf)
            self._keep.append(pointers)
            a.buffers = ctypes.cast(pointers, ctypes.POINTER(ctypes.c_void_p))
        if self.dictionary is not None:
            child = self.dictionary.struct()
            self._keep.append(child)
            a.dictionary = ctypes.pointer(child)
        a.release = _release_array
        return a

    def _address(self, buf: Any) -> int | None:
        if buf is None:
            return None
        if isinstance(buf, int):
            return buf or None
        data = np.frombuffer(buf, dtype=np.uint8) if isinstance(buf, bytes) else buf
        self._keep.append(data)
        return int(data.ctypes.data)


def offsets(*values: int, dtype: Any = np.int32) -> np.ndarray:
    return np.array(values, dtype=dtype)


def view(length: int, buffer: int = 0, offset: int = 0, inline: bytes = b"") -> bytes:
    """One 16-byte string view: inline bytes for up to 12, else prefix, buffer and offset."""
    head = np.array([length], dtype=np.int32).tobytes()
    if 0 <= length <= 12:
        return head + inline.ljust(12, b"\0")
    return head + b"pref" + np.array([buffer, offset], dtype=np.int32).tobytes()


class _Export:
    """What both kinds of export share: the schema (``fmt`` a C format string; for a dictionary
    type ``fmt`` is the index format and ``dictionary`` the format of the values)."""

    def __init__(self, fmt: str, dictionary: str | None) -> None:
        self._fmt, self._dictionary = fmt.encode(), dictionary
        self._keep: list[Any] = []

    def _schema(self) -> ArrowSchema:
        s = ArrowSchema()
        s.format, s.name, s.flags, s.n_children = self._fmt, b"keys", 2, 0
        if self._dictionary is not None:
            values = ArrowSchema()
            values.format, values.flags, values.release = self._dictionary.encode(), 2, _release_schema
            self._keep.append(values)
            s.dictionary = ctypes.pointer(values)
        s.release = _release_schema
        self._keep.append(s)
        return s


class ArrayExport(_Export):
    """One array, exported through ``__arrow_c_array__`` only."""

    def __init__(self, fmt: str, array: Raw, *, dictionary: str | None = None) -> None:
        super().__init__(fmt, dictionary)
        self._array = array

    def __arrow_c_array__(self, requested_schema: Any = None) -> tuple[Any, Any]:
        array = self._array.struct()
        self._keep.append(array)
        return _capsule(self._schema(), "schema"), _capsule(array, "array")


class StreamExport(_Export):
    """Arrays exported as one stream through ``__arrow_c_stream__`` only; ``fail_at``: the
    position at which ``get_next`` fails (with a message from ``get_last_error``)."""

    def __init__(
        self, fmt: str, arrays: list[Raw], *, dictionary: str | None = None, fail_at: int | None = None
    ) -> None:
        super().__init__(fmt, dictionary)
        self._arrays, self._fail_at = arrays, fail_at

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        pending = list(self._arrays)
        position = [0]

        @GET_SCHEMA
        def get_schema(_stream: Any, out: int) -> int:
            schema = self._schema()
            ctypes.memmove(out, ctypes.addressof(schema), ctypes.sizeof(ArrowSchema))
            return 0

        @GET_NEXT
        def get_next(_stream: Any, out: int) -> int:
            if position[0] == self._fail_at:
                return 5  # EIO
            array = pending.pop(0).struct() if pending else ArrowArray()
            position[0] += 1
            self._keep.append(array)
            ctypes.memmove(out, ctypes.addressof(array), ctypes.sizeof(ArrowArray))
            return 0

        message = ctypes.create_string_buffer(b"the producer's disk went away")

        @GET_LAST_ERROR
        def get_last_error(_stream: Any) -> int:
            return ctypes.addressof(message)

        stream = ArrowArrayStream()
        stream.get_schema, stream.get_next = get_schema, get_next
        stream.get_last_error, stream.release = get_last_error, _release_stream
        self._keep += [get_schema, get_next, get_last_error, message, stream]
        return _capsule(stream, "stream")
