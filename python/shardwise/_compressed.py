"""Compressed input files: gzip, bzip2 and xz (standard library) and zstd (through pyarrow, or the
``zstandard`` package) are decompressed while reading. The compression is recognised by the file's
first bytes, so a compressed file is never read as plain data whatever its name, and a name that
promises a compression its bytes do not have is refused (:class:`CompressionError`)."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from pathlib import Path
from typing import IO, Any


class CompressionError(ValueError):
    """A file whose compression cannot be read (or does not match its name)."""


MAGIC = {
    "gzip": b"\x1f\x8b",
    "bzip2": b"BZh",  # then a level digit and the block magic "1AY&SY" (checked below)
    "xz": b"\xfd7zXZ\x00",
    "zstd": b"\x28\xb5\x2f\xfd",
}
SUFFIXES = {".gz": "gzip", ".gzip": "gzip", ".bz2": "bzip2", ".xz": "xz", ".zst": "zstd", ".zstd": "zstd"}


def _by_content(head: bytes) -> str | None:
    for name, magic in MAGIC.items():
        if head.startswith(magic):
            if name == "bzip2" and not (head[3:4].isdigit() and head[4:10] == b"1AY&SY"):
                continue
            return name
    return None


def _check_name(path: Path, found: str | None) -> None:
    named = SUFFIXES.get(path.suffix.lower())
    if named is not None and found != named:
        actual = f"{found} data" if found else "not compressed"
        raise CompressionError(f"{path}: the name says {named} but the file is {actual}")


def _peek_kind(handle: io.BufferedReader) -> str | None:
    """The compression from the first bytes, read without consuming them (pipes work too)."""
    return _by_content(handle.peek(10)[:10])


def compression(path: Path) -> str | None:
    """The compression of the file ``path`` from its first bytes (None for a plain file). A ``.gz``,
    ``.bz2``, ``.xz`` or ``.zst`` name whose bytes are not that compression is refused."""
    try:
        with open(path, "rb") as handle:
            found = _peek_kind(handle)
    except OSError as exc:
        raise CompressionError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    _check_name(path, found)
    return found


class _Decompressed(io.RawIOBase):
    """A decompressing stream over an open file; closing it closes both."""

    def __init__(self, stream: Any, source: IO[bytes]) -> None:
        self._stream, self._source = stream, source

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._stream.close()
            self._source.close()
        finally:
            super().close()


def _zstd(handle: io.BufferedReader, path: Path) -> Any:
    try:
        import pyarrow as pa

        return pa.CompressedInputStream(pa.PythonFile(handle, mode="r"), "zstd")
    except ImportError:
        pass
    try:
        import zstandard  # type: ignore[import-not-found]

        return zstandard.ZstdDecompressor().stream_reader(handle)
    except ImportError:
        raise CompressionError(
            f"{path} is zstd-compressed: install pyarrow (pip install 'shardwise[cli]') "
            "or decompress it first"
        ) from None


def _decompressor(kind: str, handle: io.BufferedReader, path: Path) -> Any:
    """A reader of the decompressed bytes of ``handle`` (closed by :class:`_Decompressed`)."""
    if kind == "gzip":
        return gzip.GzipFile(fileobj=handle, mode="rb")
    if kind == "bzip2":
        return bz2.BZ2File(handle, mode="rb")
    if kind == "xz":
        return lzma.LZMAFile(handle, mode="rb")
    return _zstd(handle, path)


def open_binary(path: Path) -> IO[bytes]:
    """``path`` (a file or a pipe, opened once) for reading bytes, decompressed if it is
    compressed; the caller closes it."""
    handle = open(path, "rb")  # noqa: SIM115 - returned to the caller, or closed below
    try:
        kind = _peek_kind(handle)
        _check_name(path, kind)
        if kind is None:
            return handle
        return io.BufferedReader(
            _Decompressed(_decompressor(kind, handle, path), handle), buffer_size=1 << 20
        )
    except BaseException:
        handle.close()
        raise


# What a damaged compressed stream raises while it is read.
DECOMPRESSION_ERRORS: tuple[type[BaseException], ...] = (EOFError, gzip.BadGzipFile, lzma.LZMAError, OSError)


def refuse_compressed_parquet(path: Path) -> None:
    """Parquet needs random access (and compresses its pages itself): a compressed file is refused."""
    kind = compression(path) if path.is_file() else None
    if kind is not None:
        raise CompressionError(
            f"{path} is a {kind}-compressed Parquet file; Parquet compresses its own pages, "
            "so decompress the file first"
        )
