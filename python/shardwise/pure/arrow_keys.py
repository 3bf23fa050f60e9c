"""Keys from Arrow exporters, in pure Python (the twin of rust/shardwise-py/src/arrow.rs).

The Rust side reads Arrow's C data interface directly; this twin goes through pyarrow (slowly:
``to_pylist``), accepting and refusing the same columns with the same messages.
"""

from __future__ import annotations

from typing import Any

from shardwise._key_inputs import DROP_NULLS, is_key_type

KEY_TYPES = "strings, binary or integers (or a dictionary of them)"


def has_arrow(obj: object) -> bool:
    """Whether ``obj`` exports the Arrow PyCapsule interface."""
    return hasattr(obj, "__arrow_c_array__") or hasattr(obj, "__arrow_c_stream__")


def _pyarrow() -> Any:
    try:
        import pyarrow
    except ImportError:
        raise ImportError("the pure twins read Arrow keys through pyarrow: pip install pyarrow") from None
    return pyarrow


def type_name(pa: Any, t: Any) -> str:
    """The name the Rust side gives a type that cannot be keys (it names the C format)."""
    types = pa.types
    checks = [
        (types.is_null, "null"),
        (types.is_boolean, "bool"),
        (types.is_float16, "float16"),
        (types.is_float32, "float32"),
        (types.is_float64, "float64"),
        (types.is_decimal, "decimal"),
        (types.is_date, "date"),
        (types.is_time, "time"),
        (types.is_timestamp, "timestamp"),
        (types.is_duration, "duration"),
        (types.is_interval, "interval"),
        (types.is_map, "map"),
        (types.is_struct, "struct"),
        (types.is_union, "union"),
        (types.is_run_end_encoded, "run-end encoded"),
        (
            lambda x: (
                types.is_list(x)
                or types.is_large_list(x)
                or types.is_fixed_size_list(x)
                or types.is_list_view(x)
                or types.is_large_list_view(x)
            ),
            "list",
        ),
    ]
    for check, name in checks:
        if check(t):
            return name
    return str(t)


def _storage(pa: Any, t: Any) -> Any:
    return t.storage_type if isinstance(t, pa.ExtensionType) else t


def check_type(pa: Any, t: Any) -> None:
    """Refuse a column type that cannot hold keys, as the Rust side does."""
    t = _storage(pa, t)
    if pa.types.is_dictionary(t):
        values = _storage(pa, t.value_type)
        if pa.types.is_dictionary(values):
            raise TypeError(f"Arrow keys must be {KEY_TYPES}, not dictionary of dictionary")
        if not is_key_type(pa, values):
            raise TypeError(f"Arrow keys must be {KEY_TYPES}, not dictionary of {type_name(pa, values)}")
    elif not is_key_type(pa, t):
        raise TypeError(f"Arrow keys must be {KEY_TYPES}, not {type_name(pa, t)}")


def _plain_chunks(pa: Any, column: Any) -> Any:
    """The column with extension types replaced by their storage (what the C interface shows)."""
    if not isinstance(column.type, pa.ExtensionType):
        return column
    return pa.chunked_array([c.storage for c in column.chunks], type=column.type.storage_type)


def arrow_key_list(obj: Any) -> list[Any]:
    """The keys of an Arrow exporter as Python objects (str, bytes or int), nulls refused."""
    pa = _pyarrow()
    single = hasattr(obj, "__arrow_c_array__")
    column = pa.chunked_array([pa.array(obj)]) if single else pa.chunked_array(obj)
    check_type(pa, column.type)
    keys: list[Any] = _plain_chunks(pa, column).to_pylist()
    for i, key in enumerate(keys):
        if key is None:
            raise ValueError(f"keys[{i}] is null; keys cannot be null: drop them first ({DROP_NULLS})")
    return keys
