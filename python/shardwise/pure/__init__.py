"""Pure-Python twins of the Rust algorithms: same API, same results, no compiled code.

They are the readable reference, the parity oracle in the tests and the benchmark baseline.
"""

from __future__ import annotations
