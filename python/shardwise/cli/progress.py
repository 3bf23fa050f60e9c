"""A small progress bar on stderr (no dependency). Silent when stderr is not a terminal unless forced."""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO


class Progress:
    """``with Progress(total, "placing") as bar: bar.advance(n)``.

    ``total=None`` shows a running count without a percentage. Redraws at most ten times a second.
    """

    def __init__(
        self,
        total: int | None,
        label: str = "",
        *,
        enabled: bool | None = None,
        stream: TextIO | None = None,
        unit: str = "",
        width: int = 28,
    ) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total = total
        self.label = label
        self.unit = unit
        self.width = width
        self.done = 0
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False

    def __enter__(self) -> Progress:
        self._draw(force=True)
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close(finished=kind is None)

    def set_label(self, label: str) -> None:
        self.label = label
        self._draw(force=True)

    def advance(self, amount: int = 1) -> None:
        self.done += amount
        self._draw()

    def _line(self) -> str:
        elapsed = time.monotonic() - self._started
        count = f"{_human(self.done)}{self.unit}"
        if self.total:
            fraction = min(1.0, self.done / self.total)
            filled = int(fraction * self.width)
            bar = "#" * filled + "-" * (self.width - filled)
            total = f"{_human(self.total)}{self.unit}"
            return f"{self.label} [{bar}] {fraction:4.0%} {count}/{total} {elapsed:5.1f}s"
        return f"{self.label} {count} {elapsed:5.1f}s"

    def _draw(self, force: bool = False) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < 0.1:
            return
        self._last_draw = now
        self.stream.write("\r\x1b[K" + self._line())
        self.stream.flush()
        self._drawn = True

    def close(self, finished: bool = True) -> None:
        if not self.enabled:
            return
        if finished and self.total:
            self.done = max(self.done, self.total)
        self._draw(force=True)
        self.stream.write("\n")
        self.stream.flush()
        self.enabled = False


def _human(count: int) -> str:
    if count >= 10_000_000:
        return f"{count / 1e6:.0f}M"
    if count >= 100_000:
        return f"{count / 1e6:.1f}M"
    if count >= 10_000:
        return f"{count / 1e3:.0f}k"
    return str(count)
