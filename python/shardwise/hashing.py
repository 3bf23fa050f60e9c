"""Hash functions over keys, one key at a time or in bulk over numpy arrays.

Key encoding (a permanent contract, shared by every shardwise module):

- ``str`` is hashed as its UTF-8 bytes;
- ``bytes``, ``bytearray`` and ``memoryview`` are hashed as they are;
- ``int`` (and numpy integer scalars and integer arrays of any dtype) are hashed as 8 bytes,
  little-endian, two's complement for negatives. Ints outside ``[-2**63, 2**64)`` raise
  ``OverflowError``. ``bool`` is refused (it is almost always a bug).

So ``xxh3_64(5) == xxh3_64((5).to_bytes(8, "little"))``, and a key hashed alone equals the same key
inside any bulk input. Numpy ``S`` and ``U`` arrays hold their items without trailing NULs, as
numpy itself shows them.

Bulk forms (``NAME_many``) take a 1-D numpy array (integer of any dtype, contiguous or strided;
``S``; ``U``; ``StringDType``; object), a list/tuple of keys of one kind (str, bytes-like or int),
or a column: any object exporting the Arrow PyCapsule interface (``__arrow_c_array__`` or
``__arrow_c_stream__``: a pyarrow Array or ChunkedArray, a polars Series, an Arrow-backed pandas
Series) and any pandas Series or Index. Arrow columns are read in place, without a Python object per
key: utf8/binary in their plain, ``large_`` and ``_view`` forms and ``fixed_size_binary`` are their
bytes (a string is its UTF-8, as for ``str``), integers of every width are their 64-bit value as
above (uint64 values >= 2**63 are their bit pattern, like Python ints in ``[2**63, 2**64)``), and
dictionary-encoded columns (pandas and polars categoricals) are hashed once per distinct value.
Nulls are refused (``ValueError`` naming the first null's position), never hashed as ``""``: drop
them first with ``pyarrow.compute.drop_null(col)``, pandas ``col.dropna()`` or polars
``col.drop_nulls()``. Numpy-backed pandas objects are read as their numpy array. Bulk forms release
the GIL, split large inputs over threads (:func:`set_num_threads`, ``SHARDWISE_NUM_THREADS``), and
return a new numpy array: uint64 for 64-bit hashes, uint32 for 32-bit ones, uint16 for ``crc16`` and
``redis_slot``, and an ``(n, 2)`` uint64 array of (low, high) halves for ``murmur3_128_many``. With
``out=array`` they fill and return that array instead (it must have exactly that dtype and shape, be
writable and C-contiguous, and not share memory with the keys): no new array per call.

Pure-Python twins with the same names and results live in :mod:`shardwise.pure.hashing`.
"""

from __future__ import annotations

from shardwise._core import (
    crc16,
    crc16_many,
    crc32,
    crc32_many,
    fnv1a_32,
    fnv1a_32_many,
    fnv1a_64,
    fnv1a_64_many,
    get_num_threads,
    jump,
    jump_many,
    ketama,
    ketama_many,
    murmur3_32,
    murmur3_32_many,
    murmur3_128,
    murmur3_128_many,
    redis_slot,
    redis_slot_many,
    set_num_threads,
    xxh3_64,
    xxh3_64_many,
    xxh64,
    xxh64_many,
)

__all__ = [
    "crc16",
    "crc16_many",
    "crc32",
    "crc32_many",
    "fnv1a_32",
    "fnv1a_32_many",
    "fnv1a_64",
    "fnv1a_64_many",
    "get_num_threads",
    "jump",
    "jump_many",
    "ketama",
    "ketama_many",
    "murmur3_32",
    "murmur3_32_many",
    "murmur3_128",
    "murmur3_128_many",
    "redis_slot",
    "redis_slot_many",
    "set_num_threads",
    "xxh3_64",
    "xxh3_64_many",
    "xxh64",
    "xxh64_many",
]
