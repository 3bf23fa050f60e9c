"""The history checker: mutual exclusion, fencing order, lost updates, loss detection, liveness.

The model (docs/cli.md, section `lockcheck`, has the long form):

- A **hold** begins when ``acquire`` returns ok and ends at the invoke of its ``release`` (or at
  the end of the history). An ``acquire`` that ended ``info`` is a *possible* hold from its invoke
  to its completion plus the TTL: it may have taken the lock, so it can make a finding *possible*,
  never definite, and it never excuses or shortens anything else.
- A holder **noticed** the loss at its first notice inside the hold (``on_lost``, ``check()``, a
  refused fenced operation, or a release that says the lock was not ours any more).
- Hold B **supersedes** hold A when B (another client) begins while A lasts. B's claim begins at
  B's start; for a fenced lock, with B's first operation the resource accepted (only then does the
  resource know B's token and refuse A's), placed by the resource's own log.
- **stale action**: A's write that the resource applied although it was sent after a superseding
  claim (for a fenced lock: applied after it, in the resource's order). Noticing the loss and not
  acting is what a correct holder does; acting anyway is the bug.
- **double grant**: two definite holds whose intervals intersect and neither holder ever noticed
  a loss: the lock told both they held it and never told either otherwise.
- **fencing order**: the resource accepted an operation with a token smaller than one it had
  accepted before; **token regression**: an acquisition got a token not larger than that of an
  acquisition that completed before it began (a fenced lock's tokens must grow in real time).
- **lost update**: a write the resource applied was based on a stale read (counted from the
  resource's own log, so unknown outcomes are settled exactly); also an acknowledged increment
  missing from the log.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from shardwise.testing.history import Entry, History, KeySample, Op

__all__ = ["CheckResult", "Finding", "Hold", "check", "holds_of"]

_NS = 1_000_000_000


@dataclass(frozen=True)
class Hold:
    """One hold: from ``start`` (acquire returned; invoked, for a possible hold) to ``end`` (release
    invoked), the first notice of a loss, and the increments made while holding."""

    client: int
    start: int
    end: int
    definite: bool
    token: int | None
    acquire: Op
    noticed: int | None = None
    actions: tuple[Op, ...] = ()


@dataclass(frozen=True)
class Finding:
    """One violation (or possible violation) with the evidence, times in seconds since the start."""

    kind: str
    definite: bool
    clients: tuple[int, ...]
    at: float
    detail: str


@dataclass
class CheckResult:
    findings: list[Finding] = field(default_factory=list)
    acquisitions: int = 0
    possible_acquisitions: int = 0
    duration_s: float = 0.0
    longest_wait_s: float = 0.0
    increments_acked: int = 0
    increments_refused: int = 0
    increments_unknown: int = 0
    writes_applied: int | None = None
    final_counter: int | None = None
    lost_updates: int = 0
    notices: int = 0
    loss_latencies_ms: list[float] = field(default_factory=list)
    losses_unnoticed: int = 0
    losses_presumed_early: int = 0

    def count(self, kind: str, definite: bool = True) -> int:
        return sum(1 for f in self.findings if f.kind == kind and f.definite == definite)

    @property
    def violations(self) -> int:
        """Definite violations of every kind (lost updates counted once per stale write)."""
        return sum(1 for f in self.findings if f.definite)

    @property
    def valid(self) -> bool:
        return self.violations == 0

    @property
    def acquisitions_per_s(self) -> float:
        return self.acquisitions / self.duration_s if self.duration_s > 0 else 0.0

    def latency_percentile(self, q: float) -> float | None:
        return percentile(self.loss_latencies_ms, q)


KINDS = ("stale-action", "double-grant", "fencing-order", "token-regression", "lost-update")


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-quantile (0..1) by the nearest-rank method; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def holds_of(history: History, ttl_s: float) -> list[Hold]:
    """The holds of a history (definite and possible), in order of start."""
    by_client: dict[int, list[Op]] = defaultdict(list)
    for op in history.ops:
        by_client[op.client].append(op)
    notices: dict[int, list[int]] = defaultdict(list)
    for notice in history.notices:
        notices[notice.client].append(notice.t)
    for times in notices.values():
        times.sort()
    holds: list[Hold] = []
    for client, ops in by_client.items():
        for i, op in enumerate(ops):
            if op.f != "acquire" or op.outcome == "fail":
                continue
            if op.outcome == "info":
                end = (op.end if op.end is not None else history.end) + int(ttl_s * _NS)
                holds.append(Hold(client, op.start, end, False, op.token, op))
                continue
            assert op.end is not None
            later = ops[i + 1 :]
            k = next((k for k, o in enumerate(later) if o.f in ("release", "acquire")), len(later))
            if k < len(later) and later[k].f == "release":
                end = later[k].start
                seen_until = later[k + 1].start if k + 1 < len(later) else history.end
            else:
                end = seen_until = history.end
            actions = tuple(o for o in later[:k] if o.f == "incr")
            times = notices[client]
            j = bisect.bisect_left(times, op.end)
            noticed = times[j] if j < len(times) and times[j] <= seen_until else None
            holds.append(Hold(client, op.end, end, True, op.token, op, noticed, actions))
    holds.sort(key=lambda h: (h.start, h.client))
    return holds


def check(history: History, *, ttl_s: float) -> CheckResult:
    """Check one history; ``ttl_s`` bounds how long an unknown acquisition may have held the lock."""
    result = CheckResult(duration_s=max(0.0, (history.end - history.start) / _NS))
    holds = holds_of(history, ttl_s)
    applied = _applied_writes(history)
    _exclusion(history, holds, applied, result)
    if history.fenced:
        _fencing(history, holds, result)
    _counter(history, result)
    _liveness(history, holds, result)
    _loss_latency(history, holds, result)
    result.notices = len(history.notices)
    return result


def _token(token: int | None) -> str:
    return f" (token {token})" if token else ""


def _seconds(history: History, t: int) -> float:
    return round((t - history.start) / _NS, 6)


def _applied_writes(history: History) -> dict[tuple[int, int], bool | None]:
    """(client, op) of each incr -> applied (True), not applied (False) or unknown (None)."""
    written = (
        None if history.entries is None else {(e.client, e.op) for e in history.entries if e.kind == "write"}
    )
    out: dict[tuple[int, int], bool | None] = {}
    for op in history.ops:
        if op.f != "incr":
            continue
        if written is not None:
            out[(op.client, op.op)] = (op.client, op.op) in written
        else:
            out[(op.client, op.op)] = {"ok": True, "fail": False}.get(op.outcome)
    return out


def _claim(history: History, hold: Hold, applied: dict[tuple[int, int], bool | None]) -> int | None:
    """When ``hold``'s claim begins: its start, or for a fenced lock the return of its first
    operation the resource accepted (None: the resource never saw its token)."""
    if not history.fenced:
        return hold.start
    if not hold.definite:
        return None  # a possible holder never acts, so the resource never sees its token
    for action in hold.actions:
        if applied.get((action.client, action.op)) is True:
            return action.end if action.end is not None else history.end
    return None


def _exclusion(
    history: History, holds: list[Hold], applied: dict[tuple[int, int], bool | None], result: CheckResult
) -> None:
    starts = [h.start for h in holds]
    ordered = history.fenced and history.entries is not None
    if ordered:  # the counter's own order settles a fenced lock's claims exactly
        first_seen: dict[tuple[int, int], int] = {}
        for index, entry in enumerate(history.entries or []):
            first_seen.setdefault((entry.client, entry.op), index)
        positions = [
            min(
                (first_seen[(h.client, o.op)] for o in h.actions if (h.client, o.op) in first_seen),
                default=None,
            )
            for h in holds
        ]
    times = [_claim(history, h, applied) for h in holds]
    for a in holds:
        if not a.definite:
            continue
        lo = bisect.bisect_left(starts, a.start)
        hi = bisect.bisect_left(starts, a.end)
        rivals = [k for k in range(lo, hi) if holds[k].client != a.client]
        _double_grants(history, a, [holds[k] for k in rivals], result)
        if ordered:
            _stale_in_log(history, a, [(holds[k], positions[k]) for k in rivals], result)
        else:
            _stale_in_time(history, a, [(holds[k], times[k]) for k in rivals], applied, result)


def _stale_in_log(
    history: History, a: Hold, rivals: list[tuple[Hold, int | None]], result: CheckResult
) -> None:
    """Fenced lock: A's write is stale when the counter applied it after a superseding holder's
    first accepted operation."""
    claimed = [(pos, b) for b, pos in rivals if pos is not None and b.definite]
    if not claimed:
        return
    first, rival = min(claimed, key=lambda pb: pb[0])
    writes = {(e.client, e.op): i for i, e in enumerate(history.entries or []) if e.kind == "write"}
    for action in a.actions:
        pos = writes.get((action.client, action.op))
        if pos is not None and pos > first:
            sent = action.write_t if action.write_t is not None else action.start
            result.findings.append(
                Finding(
                    "stale-action",
                    True,
                    (a.client,),
                    _seconds(history, sent),
                    f"client {a.client}{_token(a.token)} wrote {action.wrote}, applied by the counter after "
                    f"client {rival.client}{_token(rival.token)} had taken the lock over and used it",
                )
            )


def _stale_in_time(
    history: History,
    a: Hold,
    rivals: list[tuple[Hold, int | None]],
    applied: dict[tuple[int, int], bool | None],
    result: CheckResult,
) -> None:
    """A's write is stale when it was sent after a superseding claim (possible: returned after one)."""
    first_definite = min((c for b, c in rivals if c is not None and b.definite), default=None)
    first_any = min((c for _, c in rivals if c is not None), default=None)
    if first_any is None:
        return
    for action in a.actions:
        done = applied.get((action.client, action.op))
        if done is False:
            continue
        sent = action.write_t if action.write_t is not None else action.start
        returned = action.end if action.end is not None else history.end
        definite = done is True and first_definite is not None and sent >= first_definite
        if definite or returned >= first_any:
            claim = first_definite if definite else first_any
            assert claim is not None
            result.findings.append(
                Finding(
                    "stale-action",
                    definite,
                    (a.client,),
                    _seconds(history, sent),
                    f"client {a.client}{_token(a.token)} wrote {action.wrote} at "
                    f"{_seconds(history, sent):.3f}s after another holder's claim at "
                    f"{_seconds(history, claim):.3f}s" + ("" if done else " (write outcome unknown)"),
                )
            )


def _double_grants(history: History, a: Hold, rivals: list[Hold], result: CheckResult) -> None:
    for b in rivals:
        if a.noticed is not None or b.noticed is not None or b.start >= a.end:
            continue
        definite = b.definite
        result.findings.append(
            Finding(
                "double-grant",
                definite,
                (a.client, b.client),
                _seconds(history, b.start),
                f"clients {a.client}{_token(a.token)} and {b.client}{_token(b.token)} both held the lock "
                f"from {_seconds(history, b.start):.3f}s to {_seconds(history, min(a.end, b.end)):.3f}s "
                "and neither noticed a loss"
                + ("" if definite else f" ({b.client}'s acquire outcome unknown)"),
            )
        )


def _fencing(history: History, holds: list[Hold], result: CheckResult) -> None:
    highest = 0
    for entry in history.entries or []:
        if entry.token < highest:
            result.findings.append(
                Finding(
                    "fencing-order",
                    True,
                    (entry.client,),
                    0.0,
                    f"the resource accepted a {entry.kind} by client {entry.client} with token "
                    f"{entry.token} after accepting token {highest}",
                )
            )
        highest = max(highest, entry.token)
    definite = [h for h in holds if h.definite and h.token is not None]
    by_completion = sorted(definite, key=lambda h: h.start)
    by_invoke = sorted(definite, key=lambda h: h.acquire.start)
    best = 0
    k = 0
    for hold in by_invoke:
        while k < len(by_completion) and by_completion[k].start < hold.acquire.start:
            best = max(best, by_completion[k].token or 0)
            k += 1
        if hold.token is not None and hold.token <= best:
            result.findings.append(
                Finding(
                    "token-regression",
                    True,
                    (hold.client,),
                    _seconds(history, hold.start),
                    f"client {hold.client} got token {hold.token} at {_seconds(history, hold.start):.3f}s, "
                    f"but token {best} had already been handed out before its acquire began",
                )
            )


def _counter(history: History, result: CheckResult) -> None:
    incrs = [op for op in history.ops if op.f == "incr"]
    result.increments_acked = sum(1 for op in incrs if op.outcome == "ok")
    result.increments_refused = sum(1 for op in incrs if op.outcome == "fail")
    result.increments_unknown = sum(1 for op in incrs if op.outcome == "info")
    result.final_counter = history.final_counter
    if history.entries is None:
        if history.final_counter is not None and history.final_counter < result.increments_acked:
            result.lost_updates = result.increments_acked - history.final_counter
            result.findings.append(
                Finding(
                    "lost-update",
                    True,
                    (),
                    0.0,
                    f"counter is {history.final_counter} after "
                    f"{result.increments_acked} acknowledged increments",
                )
            )
        return
    writes = [e for e in history.entries if e.kind == "write"]
    result.writes_applied = len(writes)
    _stale_writes(history, writes, result)
    logged = {(e.client, e.op) for e in writes}
    for op in incrs:
        if op.outcome == "ok" and (op.client, op.op) not in logged:
            result.findings.append(
                Finding(
                    "lost-update",
                    True,
                    (op.client,),
                    _seconds(history, op.start),
                    f"client {op.client}'s acknowledged increment (op {op.op}) is not in the resource log",
                )
            )


def _stale_writes(history: History, writes: list[Entry], result: CheckResult) -> None:
    """Every applied write must build on the value the previous one left. ``lost_updates`` is the
    net count: applied increments missing from the final value (a later write based on an older,
    larger read can bring some back)."""
    value = 0
    for entry in writes:
        if entry.read != value:
            what = (
                f"overwrote {value - entry.read} increment(s)"
                if entry.read < value
                else f"built on {entry.read}, a value already overwritten"
            )
            result.findings.append(
                Finding(
                    "lost-update",
                    True,
                    (entry.client,),
                    0.0,
                    f"client {entry.client}{_token(entry.token)} wrote {entry.wrote} based on a read of "
                    f"{entry.read} when the counter was {value}: {what}",
                )
            )
        value = entry.wrote if entry.wrote is not None else value
    result.lost_updates = max(0, len(writes) - value)
    if history.final_counter is not None and history.final_counter != value:
        result.findings.append(
            Finding(
                "lost-update",
                True,
                (),
                0.0,
                f"the counter ended at {history.final_counter} but its log ends at {value}",
            )
        )


def _liveness(history: History, holds: list[Hold], result: CheckResult) -> None:
    result.acquisitions = sum(1 for h in holds if h.definite)
    result.possible_acquisitions = sum(1 for h in holds if not h.definite)
    by_client: dict[int, list[Op]] = defaultdict(list)
    for op in history.ops:
        if op.f == "acquire":
            by_client[op.client].append(op)
    longest = 0
    for ops in by_client.values():
        waiting_since: int | None = None
        for op in ops:
            if waiting_since is None:
                waiting_since = op.start
            if op.outcome == "ok" and op.end is not None:
                longest = max(longest, op.end - waiting_since)
                waiting_since = None
        if waiting_since is not None:
            longest = max(longest, history.end - waiting_since)
    result.longest_wait_s = longest / _NS


def _loss_latency(history: History, holds: list[Hold], result: CheckResult) -> None:
    """Time from the server-side loss of a hold (its key gone or someone else's on a majority of
    the servers that granted it) to the holder's notice, from the sampled lock keys."""
    if not history.samples:
        return
    timelines: dict[int, list[KeySample]] = defaultdict(list)
    for sample in history.samples:
        timelines[sample.server].append(sample)
    for timeline in timelines.values():
        timeline.sort(key=lambda s: s.t)
    sent = {server: [s.sent for s in timeline] for server, timeline in timelines.items()}
    quorum = history.servers // 2 + 1
    for hold in holds:
        if not hold.definite:
            continue
        lost_at = _lost_at(timelines, sent, hold, quorum)
        if lost_at is None:
            continue
        if hold.noticed is None:
            result.losses_unnoticed += 1
        elif hold.noticed < lost_at:
            result.losses_presumed_early += 1
        else:
            result.loss_latencies_ms.append((hold.noticed - lost_at) / 1e6)


def _lost_at(
    timelines: dict[int, list[KeySample]], sent: dict[int, list[int]], hold: Hold, quorum: int
) -> int | None:
    """When fewer than ``quorum`` servers still held the hold's key value, if that happened before
    its release; None when unknown. A server's first answer read after the hold began tells the
    value; it stops holding at its first other answer, or earlier when its PTTL ran out."""
    first: dict[int, KeySample] = {}
    for server, timeline in timelines.items():
        i = bisect.bisect_left(sent[server], hold.start)
        answered = next((s for s in timeline[i:] if s.answered and s.t < hold.end), None)
        if answered is not None and answered.value is not None:
            first[server] = answered
    counts: dict[str, int] = defaultdict(int)
    for sample in first.values():
        counts[sample.value or ""] += 1
    mine, holders = max(counts.items(), key=lambda kv: kv[1], default=("", 0))
    if holders < quorum:
        return None
    ends: list[int] = []
    for server, head in first.items():
        if head.value != mine:
            continue
        timeline = timelines[server]
        last = head
        for sample in timeline[bisect.bisect_left(sent[server], head.sent) :]:
            if sample.t >= hold.end:
                break
            if not sample.answered:
                continue
            if sample.value != mine:
                expiry = last.t + last.pttl_ms * 1_000_000 if last.pttl_ms >= 0 else sample.t
                ends.append(min(sample.t, expiry))
                break
            last = sample
    needed = holders - quorum + 1  # losses that leave fewer than a quorum
    if len(ends) < needed:
        return None
    return sorted(ends)[needed - 1]
