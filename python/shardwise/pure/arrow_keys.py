"""Keys from Arrow exporters, in pure Python: the twin of rust/shardwise-py/src/arrow/ (and of the core's
column checks), reading Arrow's C data interface through ctypes, with no Arrow library. It accepts and
refuses the same inputs with the same messages, in the same order: structure (lengths, offsets, null
counts, buffer counts) and nulls chunk by chunk, dictionaries and their indices as they come, then
string offsets and views, whose first offending key is named (the Rust side finds those as it reads)."""

from __future__ import annotations

import ctypes
from dataclasses import dataclass
from typing import Any

import numpy as np

from shardwise._key_inputs import DROP_NULLS
from shardwise.pure.arrow_ffi import ArrowArray, ArrowArrayStream, ArrowSchema, drain, owned, take

KEY_TYPES = "strings, binary or integers (or a dictionary of them)"
MAX_BYTES = 2**63 - 1
INT32_MAX = 2**31 - 1
INTS = {"c": "i1", "C": "u1", "s": "i2", "S": "u2", "i": "i4", "I": "u4", "l": "i8", "L": "u8"}
NAMED = {"n": "null", "b": "bool", "e": "float16", "f": "float32", "g": "float64"}
NAMED |= {"+s": "struct", "+m": "map", "+r": "run-end encoded"}
PREFIXED = [("d:", "decimal"), ("td", "date"), ("tt", "time"), ("ts", "timestamp"), ("tD", "duration")]
PREFIXED += [("ti", "interval"), ("+l", "list"), ("+L", "list"), ("+vl", "list"), ("+vL", "list")]
PREFIXED += [("+w:", "list"), ("+u", "union")]
RULES = {"int": (2, "an integer array has 2"), "offsets": (3, "a string or binary array has 3")}
RULES |= {"views": (3, "a view array has at least 3"), "fixed": (2, "a fixed-size binary array has 2")}


def has_arrow(obj: object) -> bool:
    """Whether ``obj`` exports the Arrow PyCapsule interface."""
    return hasattr(obj, "__arrow_c_array__") or hasattr(obj, "__arrow_c_stream__")


def type_name(fmt: str) -> str:
    """The name of a type that cannot be keys, from its C format string."""
    if fmt in NAMED:
        return NAMED[fmt]
    return next((name for prefix, name in PREFIXED if fmt.startswith(prefix)), f'format "{fmt}"')


def unsupported(name: str) -> TypeError:
    return TypeError(f"Arrow keys must be {KEY_TYPES}, not {name}")


def malformed(what: str, chunk: int = 0, chunks: int = 1) -> ValueError:
    where = f" (in chunks[{chunk}] of {chunks})" if chunks > 1 else ""
    return ValueError(f"malformed Arrow data: {what}{where}")


def null_at(position: int) -> ValueError:
    return ValueError(f"keys[{position}] is null; keys cannot be null: drop them first ({DROP_NULLS})")


@dataclass(frozen=True)
class Layout:
    """How keys are laid out: ``int`` (``dtype``), ``offsets`` (``dtype`` of the offsets),
    ``views`` or ``fixed`` (``width``)."""

    kind: str
    dtype: str = ""
    width: int = 0


def plain_layout(fmt: str) -> tuple[Layout, bool] | None:
    """The layout of a plain type and whether it holds bytes (not text), or None."""
    if fmt in INTS:
        return Layout("int", INTS[fmt]), False
    known = {"u": ("offsets", "i4", False), "z": ("offsets", "i4", True), "U": ("offsets", "i8", False)}
    known |= {"Z": ("offsets", "i8", True), "vu": ("views", "", False), "vz": ("views", "", True)}
    if fmt in known:
        kind, dtype, binary = known[fmt]
        return Layout(kind, dtype), binary
    width = fmt.removeprefix("w:")
    if fmt.startswith("w:") and width.isdigit() and width.isascii():
        return Layout("fixed", width=int(width)), True
    return None


def format_of(schema: ArrowSchema) -> str:
    if not schema.format:
        raise malformed("schema without a format")
    return str(schema.format.decode("utf-8", "replace"))


def key_type(schema: ArrowSchema) -> tuple[Layout, str | None, bool]:
    """Layout, index dtype (dictionary types) and binary flag of a key column, or refused."""
    fmt = format_of(schema)
    if not schema.dictionary:
        found = plain_layout(fmt)
        if found is None:
            raise unsupported(type_name(fmt))
        return found[0], None, found[1]
    if fmt not in INTS:
        raise malformed("dictionary index is not an integer")
    values = schema.dictionary.contents
    value_fmt = format_of(values)
    if values.dictionary:
        raise unsupported("dictionary of dictionary")
    found = plain_layout(value_fmt)
    if found is None:
        raise unsupported(f"dictionary of {type_name(value_fmt)}")
    return found[0], INTS[fmt], found[1]


class View:
    """One imported array (a chunk or its dictionary), checked as Rust's ``ArrayView`` does."""

    def __init__(self, array: ArrowArray, who: str, chunk: int, chunks: int) -> None:
        self.array, self.who, self.chunk, self.chunks = array, who, chunk, chunks
        if array.length < 0:
            raise self.bad(f"has a negative length ({array.length})")
        if array.offset < 0:
            raise self.bad(f"has a negative offset ({array.offset})")
        if array.offset + array.length > MAX_BYTES:
            raise self.bad(
                f"has an offset ({array.offset}) and a length ({array.length}) that overflow together"
            )
        if array.null_count < -1:
            raise self.bad(f"has a null count of {array.null_count}")
        self.offset, self.len = array.offset, array.length

    def bad(self, what: str) -> ValueError:
        return malformed(f"{self.who} {what}", self.chunk, self.chunks)

    def check_buffers(self, layout: Layout) -> None:
        want, rule = RULES[layout.kind]
        n = self.array.n_buffers
        if not (n >= want if layout.kind == "views" else n == want):
            raise self.bad(f"has {n} buffers ({rule})")
        if not self.array.buffers:
            raise self.bad("has no buffer list")
        if self.array.null_count > 0 and not self.buffer(0):
            raise self.bad(f"has a null count of {self.array.null_count} but no validity bitmap")

    def buffer(self, i: int) -> int:
        return int(self.array.buffers[i] or 0)

    def first_null(self, skip: int = 0) -> int | None:
        """The first null slot from ``skip`` on, if any (from the validity bitmap)."""
        if self.array.null_count == 0 or self.len - skip <= 0 or not self.buffer(0):
            return None
        start, end = self.offset + skip, self.offset + self.len
        bits = np.unpackbits(
            np.frombuffer(ctypes.string_at(self.buffer(0), (end + 7) // 8), np.uint8), bitorder="little"
        )
        nulls = np.flatnonzero(bits[start:end] == 0)
        return int(nulls[0]) if len(nulls) else None

    def read(self, i: int, start: int, count: int, dtype: str) -> np.ndarray:
        """``count`` items of ``dtype`` from item ``start`` of buffer ``i``."""
        size = np.dtype(dtype).itemsize
        if count == 0:
            return np.zeros(0, dtype)
        if not self.buffer(i):
            raise self.bad(f"has no buffer {i}")
        if (start + count) * size > MAX_BYTES:
            raise self.bad(
                f"has a length and offset that put {start + count} items of {size} bytes in buffer {i}, "
                "more than memory holds"
            )
        return np.frombuffer(ctypes.string_at(self.buffer(i) + start * size, count * size), dtype)

    def dictionary(self, layout: Layout) -> View:
        values = View(self.array.dictionary.contents, "the dictionary", self.chunk, self.chunks)
        values.check_buffers(layout)
        if values.array.dictionary:
            raise values.bad("has a dictionary of its own")
        return values

    def chunk_of(self, layout: Layout) -> Chunk:
        """The keys of a string/binary array, unchecked (see :meth:`Chunk.defect`)."""
        if layout.kind == "offsets":
            count = self.len + 1 if self.len else 0
            offsets = self.read(1, self.offset, count, layout.dtype)
            end = max(int(offsets[-1]), 0) if count else 0
            return Chunk(layout, offsets=offsets.astype(np.int64), data=self.read(2, 0, end, "u1").tobytes())
        if layout.kind == "views":
            views = self.read(1, self.offset, self.len, "V16")
            n = self.array.n_buffers
            sizes = self.read(n - 1, 0, n - 3, "i8")
            buffers = []
            for b, size in enumerate(sizes.tolist()):
                if size < 0:
                    raise self.bad(f"has data buffer {b} of negative size {size}")
                buffers.append(self.read(2 + b, 0, size, "u1").tobytes())
            return Chunk(layout, views=views, buffers=buffers)
        width = layout.width
        if max(self.offset, self.len) * width >= 2**64:
            raise self.bad(f"has {self.offset + self.len} keys of {width} bytes, more than memory holds")
        return Chunk(layout, data=self.read(1, self.offset * width, self.len * width, "u1").tobytes())


@dataclass
class Chunk:
    """The keys of one string/binary array, read from its buffers."""

    layout: Layout
    offsets: Any = None
    data: bytes = b""
    views: Any = None
    buffers: Any = None

    def __len__(self) -> int:
        if self.layout.kind == "offsets":
            return max(len(self.offsets) - 1, 0)
        if self.layout.kind == "views":
            return len(self.views)
        return len(self.data) // self.layout.width if self.layout.width else 0

    def defect(self) -> tuple[int, str] | None:
        """The first key outside the buffers and what is wrong with it, as the core's checks say."""
        if self.layout.kind == "offsets":
            end = len(self.data)
            for i, (a, b) in enumerate(zip(self.offsets.tolist(), self.offsets[1:].tolist(), strict=False)):
                if a < 0:
                    return i, f"offset {a} is negative"
                if b < a:
                    return i, f"offsets run backwards ({a} then {b})"
                if b > end:
                    return i, f"offsets {a}..{b} pass the end of the data ({end} bytes)"
        if self.layout.kind == "views":
            words = self.views.view("u4").reshape(-1, 4).tolist() if len(self.views) else []
            count = len(self.buffers)
            for i, (length, _, buffer, offset) in enumerate(words):
                if length <= 12:
                    continue
                if length > INT32_MAX:
                    return i, f"view length {length - 2**32} is negative"
                if buffer >= count:
                    return i, f"view of {length} bytes names data buffer {buffer}, but there are {count}"
                if offset > INT32_MAX:
                    return i, f"view offset {offset - 2**32} is negative"
                size = len(self.buffers[buffer])
                if offset + length > size:
                    return i, (
                        f"view of {length} bytes at offset {offset} passes the end of data buffer {buffer} "
                        f"({size} bytes)"
                    )
        return None

    def keys(self) -> list[bytes]:
        if self.layout.kind == "offsets":
            o = self.offsets.tolist()
            return [self.data[o[i] : o[i + 1]] for i in range(len(self))]
        if self.layout.kind == "views":
            out = []
            for v in self.views.tolist():
                length, buffer, offset = (int.from_bytes(v[k : k + 4], "little") for k in (0, 8, 12))
                out.append(
                    v[4 : 4 + length] if length <= 12 else self.buffers[buffer][offset : offset + length]
                )
            return out
        w = self.layout.width
        return [self.data[i * w : (i + 1) * w] for i in range(len(self))]


def check_indices(indices: np.ndarray, entries: int, start: int, chunk: int, chunks: int) -> None:
    outside = np.flatnonzero((indices < 0) | (indices >= entries))
    if len(outside):
        i = int(outside[0])
        raise malformed(
            f"the index of keys[{start + i}] is {indices[i]}, outside its dictionary of {entries} entries",
            chunk,
            chunks,
        )


def first_null_entry(values: View, indices: np.ndarray) -> int | None:
    """The first key whose index points at a null dictionary entry."""
    if values.first_null() is None:
        return None
    null = np.zeros(values.len, bool)
    at = values.first_null()
    while at is not None:
        null[at] = True
        nxt = values.first_null(at + 1)
        at = None if nxt is None else at + 1 + nxt
    inside = (indices >= 0) & (indices < values.len)  # the others are refused later
    hits = np.flatnonzero(inside & null[np.where(inside, indices, 0)])
    return int(hits[0]) if len(hits) else None


def read_arrays(schema: ArrowSchema, arrays: list[ArrowArray]) -> list[Any]:
    """The keys of every array (all of type ``schema``), as Rust reads them."""
    layout, index, binary = key_type(schema)
    chunks = len(arrays)
    views = []
    for c, array in enumerate(arrays):
        view = View(array, "the array", c, chunks)
        if index is not None:
            view.check_buffers(Layout("int", index))
            if not view.array.dictionary:
                raise view.bad("of a dictionary type has no dictionary")
        else:
            view.check_buffers(layout)
            if view.array.dictionary:
                raise view.bad("has a dictionary but its type has none")
        views.append(view)
    if sum(view.len for view in views) >= 2**64:
        raise malformed("the chunks hold more keys than memory does", 0, chunks)
    keys: list[Any] = []
    # What the Rust side checks as it reads (string offsets and views, indices of string
    # dictionaries): one entry per array, checked in order once every array is in.
    deferred: list[tuple[int, Any]] = []
    for view in views:
        start = len(keys)
        null = view.first_null()
        if null is not None:
            raise null_at(start + null)
        if view.len == 0 and layout.kind == "int":
            continue
        if index is None and layout.kind == "int":
            keys += view.read(1, view.offset, view.len, layout.dtype).tolist()
            continue
        if index is None:
            chunk = view.chunk_of(layout)
            deferred.append((start, chunk))
            keys += [None] * len(chunk)
            continue
        codes = view.read(1, view.offset, view.len, index)
        values = view.dictionary(layout)
        if layout.kind == "int":
            check_indices(codes, values.len, start, view.chunk, chunks)
        else:
            dictionary = values.chunk_of(layout)
            found = dictionary.defect()
            if found is not None:
                raise malformed(f"dictionary entry {found[0]}: {found[1]}", view.chunk, chunks)
        null = first_null_entry(values, codes)
        if null is not None:
            raise null_at(start + null)
        if layout.kind == "int":
            entries = values.read(1, values.offset, values.len, layout.dtype).tolist()
            keys += [entries[c] for c in codes.tolist()]
        else:
            deferred.append((start, (codes, dictionary)))
            keys += [None] * len(codes)
    for c, (start, item) in enumerate(deferred):
        if isinstance(item, Chunk):
            found = item.defect()
            if found is not None:
                raise malformed(f"keys[{start + found[0]}]: {found[1]}", c, len(deferred))
            keys[start : start + len(item)] = item.keys()
        else:
            codes, dictionary = item
            check_indices(codes, len(dictionary), start, c, len(deferred))
            entries = dictionary.keys()
            keys[start : start + len(codes)] = [entries[i] for i in codes.tolist()]
    if layout.kind == "int" or binary:
        return keys
    try:
        return [key.decode("utf-8") for key in keys]
    except UnicodeDecodeError:
        return [UndecodableText(key) for key in keys]


class UndecodableText(bytes):
    """A key of a string column whose bytes are not all UTF-8 (Arrow forbids it but cannot
    prevent it). The Rust reader places such a column by its bytes, as text: so do the twins
    (uhashring's flavor takes the ``repr`` of bytes keys, not of these)."""


def arrow_key_list(obj: Any) -> list[Any]:
    """The keys of an Arrow exporter as Python objects (str, bytes or int), nulls and malformed
    arrays refused (see the module documentation)."""
    with owned([]) as structs:
        if hasattr(obj, "__arrow_c_array__"):
            schema_capsule, array_capsule = obj.__arrow_c_array__()
            structs.append(take(schema_capsule, b"arrow_schema", ArrowSchema))
            structs.append(take(array_capsule, b"arrow_array", ArrowArray))
            return read_arrays(structs[0], [structs[1]])
        stream = take(obj.__arrow_c_stream__(), b"arrow_array_stream", ArrowArrayStream)
        structs.append(stream)
        schema, arrays = drain(stream, structs)
        return read_arrays(schema, arrays)
