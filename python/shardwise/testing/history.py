"""Histories of a lock check: what each client did and saw, and what the resource accepted.

A client records **events** (Jepsen style): ``invoke`` when it starts an operation, then ``ok``
(it happened), ``fail`` (it surely did not happen) or ``info`` (unknown: it may have happened, at
any time from the invoke on). An invoke with no completion by the end of the run is ``info``.
Operations: ``acquire`` (``token`` = fencing token, if the lock has one), ``release``, ``incr``
(a lock-protected read-modify-write of the counter: ``read`` and ``wrote`` values). ``notice``
events are instants: the holder learned its lock was lost (``source``: ``on_lost``, ``check``,
``refused`` — a fenced operation was refused —, or ``release``).

The resource (the counter) logs every operation it accepted, in its own order: :class:`Entry`.
Timestamps are ``time.monotonic_ns()``, comparable across processes on one Linux machine.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Entry", "Event", "History", "KeySample", "Notice", "Op", "load_events", "pair_operations"]

COMPLETIONS = ("ok", "fail", "info")
FUNCTIONS = ("acquire", "release", "incr")


@dataclass(frozen=True)
class Event:
    """One line of a client's history."""

    client: int
    op: int  # the client's operation number; an invoke and its completion share it
    type: str  # invoke | ok | fail | info | notice
    f: str  # acquire | release | incr | notice
    t: int  # time.monotonic_ns()
    token: int | None = None
    read: int | None = None
    wrote: int | None = None
    write_t: int | None = None  # incr: when the write was sent (after the read)
    detail: str = ""

    def to_json(self) -> str:
        data = {k: v for k, v in self.__dict__.items() if v is not None and v != ""}
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Event:
        kind = str(data["type"])
        if kind not in ("invoke", "notice", *COMPLETIONS):
            raise ValueError(f"unknown event type {kind!r}")
        return cls(
            client=int(data["client"]),
            op=int(data["op"]),
            type=kind,
            f=str(data["f"]),
            t=int(data["t"]),
            token=None if data.get("token") is None else int(data["token"]),
            read=None if data.get("read") is None else int(data["read"]),
            wrote=None if data.get("wrote") is None else int(data["wrote"]),
            write_t=None if data.get("write_t") is None else int(data["write_t"]),
            detail=str(data.get("detail", "")),
        )


@dataclass(frozen=True)
class Op:
    """An invoke paired with its completion. ``end`` is None for an operation that never completed."""

    client: int
    op: int
    f: str
    start: int
    end: int | None
    outcome: str  # ok | fail | info
    token: int | None = None
    read: int | None = None
    wrote: int | None = None
    write_t: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class Notice:
    """The moment a holder learned its lock was lost."""

    client: int
    t: int
    source: str


@dataclass(frozen=True)
class Entry:
    """One operation the counter accepted, in the counter's own order.

    ``kind`` is ``read`` or ``write``; ``token`` is 0 for an unfenced operation."""

    kind: str
    client: int
    op: int
    token: int
    read: int
    wrote: int | None = None


@dataclass(frozen=True)
class KeySample:
    """The lock key on one server: its value (None when absent) and PTTL in ms, as read by a
    request sent at ``sent`` and answered by ``t`` (``sent`` defaults to ``t``). ``answered`` is
    False when the server did not answer in time (the value is unknown)."""

    t: int
    server: int
    value: str | None
    pttl_ms: int
    answered: bool = True
    sent: int = -1

    def __post_init__(self) -> None:
        if self.sent < 0:
            object.__setattr__(self, "sent", self.t)


@dataclass
class History:
    """Everything the checker looks at for one run."""

    ops: list[Op]
    notices: list[Notice] = field(default_factory=list)
    entries: list[Entry] | None = None  # None when the resource log is not available
    final_counter: int | None = None
    samples: list[KeySample] = field(default_factory=list)
    servers: int = 1
    fenced: bool = False
    start: int = 0
    end: int = 0

    @classmethod
    def from_events(cls, events: Iterable[Event], **kwargs: Any) -> History:
        """Pair the events into operations (see :func:`pair_operations`)."""
        events = sorted(events, key=lambda e: (e.t, e.client))
        ops, notices = pair_operations(events)
        times = [e.t for e in events]
        kwargs.setdefault("start", min(times, default=0))
        kwargs.setdefault("end", max(times, default=0))
        return cls(ops=ops, notices=notices, **kwargs)


def pair_operations(events: Iterable[Event]) -> tuple[list[Op], list[Notice]]:
    """Operations (in invoke order) and notices from raw events. A completion must follow an invoke
    of the same client and op number; an invoke left open is an ``info`` operation with no end."""
    open_ops: dict[tuple[int, int], Event] = {}
    ops: list[Op] = []
    notices: list[Notice] = []
    for event in events:
        key = (event.client, event.op)
        if event.type == "notice":
            notices.append(Notice(event.client, event.t, event.detail or "unknown"))
        elif event.type == "invoke":
            if event.f not in FUNCTIONS:
                raise ValueError(f"client {event.client} op {event.op}: unknown operation {event.f!r}")
            if key in open_ops:
                raise ValueError(f"client {event.client} op {event.op}: invoked twice")
            open_ops[key] = event
        else:
            invoke = open_ops.pop(key, None)
            if invoke is None:
                raise ValueError(f"client {event.client} op {event.op}: {event.type} without an invoke")
            ops.append(
                Op(
                    client=event.client,
                    op=event.op,
                    f=invoke.f,
                    start=invoke.t,
                    end=event.t,
                    outcome=event.type,
                    token=event.token if event.token is not None else invoke.token,
                    read=event.read,
                    wrote=event.wrote if event.wrote is not None else invoke.wrote,
                    write_t=event.write_t,
                    detail=event.detail,
                )
            )
    for invoke in open_ops.values():
        ops.append(Op(invoke.client, invoke.op, invoke.f, invoke.t, None, "info", invoke.token))
    ops.sort(key=lambda o: (o.start, o.client, o.op))
    return ops, notices


def load_events(paths: Iterable[Path]) -> Iterator[Event]:
    """Events from JSON-lines files; a torn last line (the writer was killed mid-write) is skipped."""
    for path in paths:
        with open(path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                line = line.strip()
                if not line:
                    continue
                try:
                    data = json.loads(line)
                except json.JSONDecodeError:
                    continue  # only the last line can be torn; nothing after it was written
                try:
                    yield Event.from_mapping(data)
                except (KeyError, TypeError, ValueError) as exc:
                    raise ValueError(f"{path}:{number}: not a history event: {exc}") from None


def parse_entry(raw: str | bytes) -> Entry:
    """An entry of the resource log: ``kind|client|op|token|read|wrote`` (wrote empty for reads)."""
    text = raw.decode() if isinstance(raw, bytes) else raw
    kind, client, op, token, read, wrote = text.split("|")
    return Entry(
        kind={"R": "read", "W": "write"}[kind],
        client=int(client),
        op=int(op),
        token=int(token),
        read=int(read),
        wrote=int(wrote) if wrote else None,
    )


def porcupine_operations(history: History) -> list[dict[str, Any]]:
    """The history in Porcupine's visualization input: a list of operations, each with
    ``ClientId``, ``Input``, ``Call``, ``Output``, ``Return`` (ns since the run started).

    As in Porcupine, an operation whose outcome is unknown returns at the end of the history;
    notices are zero-length operations."""
    origin = history.start
    last = history.end - origin + 1
    out: list[dict[str, Any]] = []
    for op in history.ops:
        call = op.start - origin
        ret = last if op.end is None or op.outcome == "info" else op.end - origin
        inp: dict[str, Any] = {"op": op.f}
        output: dict[str, Any] = {"outcome": op.outcome}
        if op.token is not None:
            (output if op.f == "acquire" else inp)["token"] = op.token
        if op.read is not None:
            output["read"] = op.read
        if op.wrote is not None:
            output["wrote"] = op.wrote
        if op.detail:
            output["detail"] = op.detail
        out.append({"ClientId": op.client, "Input": inp, "Call": call, "Output": output, "Return": ret})
    for notice in history.notices:
        t = notice.t - origin
        out.append(
            {
                "ClientId": notice.client,
                "Input": {"op": "notice"},
                "Call": t,
                "Output": {"lost": True, "source": notice.source},
                "Return": t,
            }
        )
    out.sort(key=lambda o: (o["Call"], o["ClientId"]))
    return out
