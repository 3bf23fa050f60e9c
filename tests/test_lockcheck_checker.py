"""The lockcheck checker on hand-written histories: each violation it must find, each situation it
must accept, and how unknown (info) outcomes count. Times are in milliseconds."""

from __future__ import annotations

import json

import pytest
from shardwise.testing import Entry, Event, History, KeySample, check
from shardwise.testing.checker import percentile
from shardwise.testing.history import load_events, pair_operations, parse_entry, porcupine_operations

MS = 1_000_000


class Script:
    """Builds a history: ``s.acquire(client, start, end, token=...)`` etc., times in ms."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.ops: dict[int, int] = {}

    def _op(self, client: int) -> int:
        self.ops[client] = self.ops.get(client, -1) + 1
        return self.ops[client]

    def call(
        self, client: int, f: str, start: float, end: float | None, outcome: str = "ok", **fields: object
    ) -> int:
        op = self._op(client)
        self.events.append(Event(client, op, "invoke", f, int(start * MS)))
        if end is not None:
            self.events.append(Event(client, op, outcome, f, int(end * MS), **fields))  # type: ignore[arg-type]
        return op

    def acquire(
        self, client: int, start: float, end: float | None, outcome: str = "ok", token: int | None = None
    ) -> int:
        return self.call(client, "acquire", start, end, outcome, token=token)

    def release(self, client: int, start: float, end: float, outcome: str = "ok") -> int:
        return self.call(client, "release", start, end, outcome)

    def incr(
        self, client: int, start: float, write: float, end: float | None, read: int, outcome: str = "ok"
    ) -> int:
        wrote = read + 1 if outcome != "fail" else None
        return self.call(client, "incr", start, end, outcome, read=read, wrote=wrote, write_t=int(write * MS))

    def notice(self, client: int, t: float, source: str = "on_lost") -> None:
        self.events.append(Event(client, -1, "notice", "notice", int(t * MS), detail=source))

    def history(self, **kwargs: object) -> History:
        return History.from_events(self.events, **kwargs)  # type: ignore[arg-type]


def kinds(history: History, ttl_s: float = 1.0) -> dict[tuple[str, bool], int]:
    found: dict[tuple[str, bool], int] = {}
    for finding in check(history, ttl_s=ttl_s).findings:
        key = (finding.kind, finding.definite)
        found[key] = found.get(key, 0) + 1
    return found


def write(client: int, op: int, read: int, token: int = 0) -> Entry:
    return Entry("write", client, op, token, read, read + 1)


def test_sequential_holds_are_valid() -> None:
    s = Script()
    s.acquire(0, 0, 1)
    a = s.incr(0, 2, 3, 4, read=0)
    s.release(0, 5, 6)
    s.acquire(1, 3, 7)  # waited while 0 held the lock
    b = s.incr(1, 8, 9, 10, read=1)
    s.release(1, 11, 12)
    history = s.history(entries=[write(0, a, 0), write(1, b, 1)], final_counter=2)
    result = check(history, ttl_s=1.0)
    assert result.findings == []
    assert (
        result.valid
        and result.acquisitions == 2
        and result.increments_acked == 2
        and result.lost_updates == 0
    )


def test_two_holders_that_never_noticed_are_a_double_grant() -> None:
    s = Script()
    s.acquire(0, 0, 1)
    s.acquire(1, 2, 3)
    s.release(0, 10, 11)
    s.release(1, 12, 13)
    assert kinds(s.history()) == {("double-grant", True): 1}


def test_a_holder_that_noticed_and_did_not_act_is_not_a_violation() -> None:
    s = Script()
    s.acquire(0, 0, 1)
    s.acquire(1, 2, 3)  # 0 was paused past its TTL, say
    s.notice(0, 8, "check")
    s.release(0, 10, 11, "fail")
    s.release(1, 12, 13)
    assert kinds(s.history()) == {}


def test_a_notice_at_release_counts_but_does_not_excuse_an_earlier_write() -> None:
    s = Script()
    s.acquire(0, 0, 1)
    s.acquire(1, 2, 3)
    stale = s.incr(0, 4, 5, 6, read=0)  # wrote after 1 had the lock
    s.release(0, 10, 11, "fail")
    s.notice(0, 11.5, "release")  # recorded just after the failed release: still this hold's
    s.release(1, 12, 13)
    history = s.history(entries=[write(0, stale, 0)], final_counter=1)
    assert kinds(history) == {("stale-action", True): 1}


def test_acting_after_noticing_the_loss_is_still_a_stale_action() -> None:
    s = Script()
    s.acquire(0, 0, 1)
    s.acquire(1, 2, 3)
    s.notice(0, 4)
    late = s.incr(0, 5, 6, 7, read=0)
    s.release(0, 10, 11, "fail")
    s.release(1, 12, 13)
    history = s.history(entries=[write(0, late, 0)], final_counter=1)
    assert kinds(history) == {("stale-action", True): 1}


def test_a_write_sent_before_the_rival_claim_is_only_possibly_stale() -> None:
    s = Script()
    s.acquire(0, 0, 1)
    op = s.incr(0, 1.5, 1.8, 4, read=0)  # sent before 1's acquire returned, returned after
    s.notice(0, 4.5)
    s.acquire(1, 2, 3)
    s.release(0, 10, 11, "fail")
    s.release(1, 12, 13)
    history = s.history(entries=[write(0, op, 0)], final_counter=1)
    assert kinds(history) == {("stale-action", False): 1}
    assert check(history, ttl_s=1.0).valid


def test_fenced_write_before_the_new_holder_touched_the_resource_is_serializable() -> None:
    s = Script()
    s.acquire(0, 0, 1, token=5)
    s.acquire(1, 2, 3, token=6)
    old = s.incr(0, 4, 5, 6, read=0)  # token 5, accepted: 6 not seen yet
    new = s.incr(1, 7, 8, 9, read=1)
    s.release(0, 10, 11, "fail")
    s.notice(0, 11, "release")
    s.release(1, 12, 13)
    entries = [write(0, old, 0, token=5), write(1, new, 1, token=6)]
    assert kinds(s.history(entries=entries, final_counter=2, fenced=True)) == {}
    # the same history without fencing: 0 wrote after 1 held the lock
    unfenced = [write(0, old, 0), write(1, new, 1)]
    assert kinds(s.history(entries=unfenced, final_counter=2)) == {("stale-action", True): 1}


def test_fenced_write_accepted_after_the_new_holder_touched_the_resource_is_caught() -> None:
    s = Script()
    s.acquire(0, 0, 1, token=5)
    s.acquire(1, 2, 3, token=6)
    new = s.incr(1, 4, 5, 6, read=0)
    old = s.incr(0, 7, 8, 9, read=1)  # a broken resource accepted token 5 after 6
    s.release(1, 10, 11)
    s.release(0, 12, 13, "fail")
    s.notice(0, 13, "release")
    entries = [write(1, new, 0, token=6), write(0, old, 1, token=5)]
    found = kinds(s.history(entries=entries, final_counter=2, fenced=True))
    assert found == {("stale-action", True): 1, ("fencing-order", True): 1}


def test_fenced_claims_are_placed_by_the_counter_log_not_by_timestamps() -> None:
    s = Script()
    s.acquire(0, 0, 1, token=5)
    s.acquire(1, 2, 3, token=6)
    old = s.incr(0, 4, 5, 8, read=0)  # sent at 5 ms, answered at 8 ms
    new = s.incr(1, 5.5, 6, 7, read=1)  # B's first operation returned at 7 ms
    s.release(0, 10, 11, "fail")
    s.notice(0, 11, "release")
    s.release(1, 12, 13)
    before = [write(0, old, 0, token=5), write(1, new, 1, token=6)]
    assert kinds(s.history(entries=before, final_counter=2, fenced=True)) == {}
    after = [Entry("read", 1, new, 6, 0), write(0, old, 0, token=5), write(1, new, 0, token=6)]
    found = kinds(s.history(entries=after, final_counter=1, fenced=True))
    assert found[("stale-action", True)] == 1 and found[("fencing-order", True)] == 1


def test_refused_fenced_writes_are_no_violation() -> None:
    s = Script()
    s.acquire(0, 0, 1, token=5)
    s.acquire(1, 2, 3, token=6)
    new = s.incr(1, 4, 5, 6, read=0)
    s.notice(0, 9, "refused")
    s.incr(0, 7, 8, 9, read=0, outcome="fail")
    s.release(1, 10, 11)
    s.release(0, 12, 13, "fail")
    history = s.history(entries=[write(1, new, 0, token=6)], final_counter=1, fenced=True)
    result = check(history, ttl_s=1.0)
    assert result.findings == [] and result.increments_refused == 1


def test_fencing_order_counts_reads_too() -> None:
    s = Script()
    entries = [Entry("read", 1, 0, 6, 0), Entry("read", 0, 0, 5, 0)]
    assert kinds(s.history(entries=entries, final_counter=0, fenced=True)) == {("fencing-order", True): 1}


def test_token_regression_is_judged_in_real_time_order() -> None:
    s = Script()
    s.acquire(0, 0, 1, token=5)
    s.release(0, 2, 3)
    s.acquire(1, 4, 5, token=5)  # began after token 5 was handed out: must be larger
    s.release(1, 6, 7)
    s.acquire(2, 0.5, 8, token=3)  # began before token 5 was handed out: no order to keep
    s.release(2, 9, 10)
    assert kinds(s.history(fenced=True, entries=[], final_counter=0)) == {("token-regression", True): 1}


def test_lost_update_from_the_resource_log() -> None:
    s = Script()
    s.acquire(0, 0, 1)
    s.acquire(1, 0, 1.5)
    a = s.incr(0, 2, 3, 4, read=0)
    b = s.incr(1, 2.5, 3.5, 4.5, read=0)
    s.release(0, 5, 6)
    s.release(1, 5, 6)
    result = check(s.history(entries=[write(0, a, 0), write(1, b, 0)], final_counter=1), ttl_s=1.0)
    assert result.lost_updates == 1 and result.increments_acked == 2 and result.final_counter == 1
    assert sum(1 for f in result.findings if f.kind == "lost-update") == 1


def test_lost_updates_are_net_of_writes_that_bring_increments_back() -> None:
    s = Script()
    ops = [s.incr(c, 2, 3, 4, read=r) for c, r in ((0, 0), (1, 1), (2, 0), (3, 2))]
    entries = [write(c, op, r) for c, op, r in zip(range(4), ops, (0, 1, 0, 2), strict=True)]
    result = check(s.history(entries=entries, final_counter=3), ttl_s=1.0)
    # 0->1, 1->2, then 0->1 overwrites two, then 2->3 builds on an overwritten value: 4 applied, 3 left
    assert result.lost_updates == 1
    assert [f.detail.rsplit(": ", 1)[1] for f in result.findings if f.kind == "lost-update"] == [
        "overwrote 2 increment(s)",
        "built on 2, a value already overwritten",
    ]


def test_acknowledged_increment_missing_from_the_log_is_a_lost_update() -> None:
    s = Script()
    s.acquire(0, 0, 1)
    s.incr(0, 2, 3, 4, read=0)
    s.release(0, 5, 6)
    assert kinds(s.history(entries=[], final_counter=0)) == {("lost-update", True): 1}


def test_without_a_log_the_final_counter_is_compared_with_acknowledged_increments() -> None:
    s = Script()
    s.acquire(0, 0, 1)
    s.incr(0, 2, 3, 4, read=0)
    s.incr(0, 4, 5, 6, read=1)
    s.release(0, 7, 8)
    assert kinds(s.history(final_counter=1)) == {("lost-update", True): 1}
    assert kinds(s.history(final_counter=2)) == {}


def test_unknown_acquire_makes_a_finding_possible_not_definite() -> None:
    s = Script()
    s.acquire(0, 0, 1)
    s.acquire(1, 2, 3, "info")  # may hold from 2 ms to 3 ms + ttl
    s.release(0, 10, 11)
    result = check(s.history(), ttl_s=1.0)
    assert kinds(s.history()) == {("double-grant", False): 1}
    assert result.valid and result.acquisitions == 1 and result.possible_acquisitions == 1


def test_unknown_acquire_does_not_hide_a_definite_violation() -> None:
    s = Script()
    s.acquire(0, 0, 1)
    s.acquire(2, 1.5, 2, "info")
    s.acquire(1, 2, 3)
    s.release(0, 10, 11)
    s.release(1, 12, 13)
    found = kinds(s.history())
    assert found[("double-grant", True)] == 1
    assert not check(s.history(), ttl_s=1.0).valid


def test_unknown_increment_is_settled_by_the_log() -> None:
    s = Script()
    s.acquire(0, 0, 1)
    s.acquire(1, 2, 3)
    stale = s.incr(0, 4, 5, None, read=0, outcome="info")  # client 0 never heard back
    s.release(1, 12, 13)
    applied = s.history(entries=[write(0, stale, 0)], final_counter=1)
    assert kinds(applied)[("stale-action", True)] == 1  # it did take effect
    not_applied = s.history(entries=[], final_counter=0)
    assert ("stale-action", True) not in kinds(not_applied)
    no_log = s.history(final_counter=1)
    assert kinds(no_log)[("stale-action", False)] == 1  # unknown: possible only


def test_an_unknown_write_in_the_log_still_reveals_a_lost_update() -> None:
    s = Script()
    s.acquire(0, 0, 1)
    s.acquire(1, 0, 1)
    a = s.incr(0, 2, 3, 4, read=0)
    b = s.incr(1, 2, 3, None, read=0, outcome="info")
    result = check(s.history(entries=[write(0, a, 0), write(1, b, 0)], final_counter=1), ttl_s=1.0)
    assert result.lost_updates == 1 and result.increments_unknown == 1


def test_an_invoke_without_completion_is_info() -> None:
    s = Script()
    s.acquire(0, 0, 1)
    s.call(0, "release", 5, None)
    ops, _ = pair_operations(s.events)
    assert ops[-1].outcome == "info" and ops[-1].end is None


def test_completion_without_invoke_is_rejected() -> None:
    with pytest.raises(ValueError, match="without an invoke"):
        pair_operations([Event(0, 3, "ok", "acquire", 5)])


def test_loss_latency_from_key_samples() -> None:
    s = Script()
    s.acquire(0, 0, 1)
    s.notice(0, 60)  # noticed 60 ms in
    s.release(0, 70, 71, "fail")
    samples = [
        KeySample(2 * MS, 0, "mine", 10),  # expires at 12 ms by its PTTL
        KeySample(5 * MS, 0, "mine", 7),
        KeySample(20 * MS, 0, None, -2),  # gone by 20 ms: lost at 12 ms (PTTL), not 20
        KeySample(30 * MS, 0, "theirs", 500),
    ]
    result = check(s.history(samples=samples), ttl_s=1.0)
    assert result.loss_latencies_ms == [pytest.approx(48.0)]


def test_loss_latency_needs_a_majority_for_redlock() -> None:
    s = Script()
    s.acquire(0, 0, 1)
    s.notice(0, 50)
    s.release(0, 60, 61, "fail")
    rounds = [
        (2, ["m", "m", "m", "m", "m"]),
        (10, ["m", "m", "m", None, None]),  # still a majority
        (20, ["m", "m", None, None, None]),  # lost on a majority here
    ]
    samples = [
        KeySample(t * MS, i, v, 1000 if v else -2) for t, values in rounds for i, v in enumerate(values)
    ]
    result = check(s.history(samples=samples, servers=5), ttl_s=1.0)
    assert result.loss_latencies_ms == [pytest.approx(30.0)]


def test_liveness_counts_acquisitions_and_the_longest_wait() -> None:
    s = Script()
    s.acquire(0, 0, 100, "fail")
    s.acquire(0, 100, 300)  # waited 300 ms in all
    s.release(0, 310, 320)
    s.acquire(1, 0, 50)
    s.release(1, 60, 70)
    result = check(s.history(), ttl_s=1.0)
    assert result.acquisitions == 2
    assert result.longest_wait_s == pytest.approx(0.3)


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert percentile(list(map(float, range(1, 101))), 0.99) == 99.0


def test_events_round_trip_through_json_lines(tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "client-0.jsonl"
    event = Event(0, 1, "ok", "incr", 123, token=4, read=1, wrote=2, write_t=100)
    path.write_text(event.to_json() + "\n" + '{"client": 0, "op"', encoding="utf-8")  # torn last line
    assert list(load_events([path])) == [event]


def test_resource_log_entries_parse() -> None:
    assert parse_entry(b"W|2|7|15|3|4") == Entry("write", 2, 7, 15, 3, 4)
    assert parse_entry("R|0|1|0|9|") == Entry("read", 0, 1, 0, 9, None)


def test_porcupine_dump_has_the_visualization_fields() -> None:
    s = Script()
    s.acquire(0, 0, 1, token=7)
    s.incr(0, 2, 3, None, read=0, outcome="info")
    s.notice(0, 4)
    history = s.history()
    ops = porcupine_operations(history)
    json.dumps(ops)  # plain JSON
    assert all(set(op) == {"ClientId", "Input", "Call", "Output", "Return"} for op in ops)
    acquire, incr, notice = ops
    assert acquire["Input"] == {"op": "acquire"} and acquire["Output"]["token"] == 7
    assert incr["Return"] == history.end - history.start + 1  # unknown: returns at the end
    assert notice["Call"] == notice["Return"] == 4 * MS


def test_loss_latency_ignores_reads_sent_before_the_hold_began() -> None:
    s = Script()
    s.acquire(0, 0, 1)
    s.notice(0, 30)
    s.release(0, 40, 41, "fail")
    samples = [
        KeySample(2 * MS, 0, "previous", 5, sent=0),  # read before the acquire returned, answered late
        KeySample(3 * MS, 0, "mine", 500, sent=int(2.5 * MS)),
        KeySample(20 * MS, 0, "theirs", 500, sent=19 * MS),
    ]
    result = check(s.history(samples=samples), ttl_s=1.0)
    assert result.loss_latencies_ms == [pytest.approx(10.0)]
