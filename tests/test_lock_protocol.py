"""The lock's sans-I/O core against the Redlock rules (property tests; no Redis involved: the core
does no I/O, so its decisions are tested by answering its requests directly).

The rules, from https://redis.io/docs/latest/develop/use/patterns/distributed-locks/: quorum
N//2+1; validity = ttl - elapsed - drift with drift = ttl * drift_factor + 2 ms; acquired only
with a quorum of grants and a positive validity; a failed attempt is released everywhere.
Fencing (this project's rule): the token is the largest counter of the granting majority, and the
granting masters behind it are raised to it before the lock is used.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from shardwise.errors import LockBackendError, LockNotAcquiredError, QuorumNotReachedError
from shardwise.lock import _protocol as p
from shardwise.lock._settings import MAX_TTL, MIN_VALIDITY, acquire_args, make_settings

TTL_MS = 10_000


def spec(masters: int, ttl: float = 10.0, drift_factor: float = 0.01, redlock: bool = True) -> p.Spec:
    return p.Spec(
        "Redlock" if redlock else "RedisLock",
        "x",
        tuple(f"m{i}" for i in range(masters)),
        ttl,
        drift_factor,
        redlock=redlock,
        wake_on_release=not redlock,
    )


def args(blocking: bool = False, wait: float | None = None, sleep: float = 0.1) -> p.AcquireArgs:
    return p.AcquireArgs(sleep=sleep, blocking=blocking, wait=wait, token="tok", reclaim=True)


Answer = Callable[[Any, float], tuple[Any, float]]


def drive(
    steps: p.Steps[Any], answer: Answer, now: float = 0.0, limit: int = 10_000
) -> tuple[Any, list[Any]]:
    """Answer every request of ``steps`` with ``answer(request, now)``; returns (result, requests)."""
    stepper, log = p.Stepper(steps), []
    while (request := stepper.next()) is not None:
        log.append(request)
        assert len(log) < limit, "the loop does not end"
        value, now = answer(request, now)
        stepper.reply((value, now))
    return stepper.result, log


# a master's answer to one ACQUIRE: ("grant", fence) / ("deny", pttl ms) / ("fail", transient)
outcome = st.one_of(
    st.tuples(st.just("grant"), st.integers(1, 50)),
    st.tuples(st.just("deny"), st.integers(-1, TTL_MS)),
    st.tuples(st.just("fail"), st.booleans()),
)


def acquire_reply(kind: str, value: Any) -> Any:
    if kind == "grant":
        return [1, value, TTL_MS]
    if kind == "deny":
        return [0, value]
    return p.Failed(ConnectionError("down") if value else ValueError("WRONGTYPE"), transient=value)


# --- arithmetic ------------------------------------------------------------------------------


@given(st.integers(1, 99))
def test_any_two_quorums_share_a_master_and_a_smaller_one_would_not(n: int) -> None:
    q = p.quorum(n)
    assert q == n // 2 + 1 and q <= n
    assert 2 * q > n  # two majorities always overlap
    assert 2 * (q - 1) <= n  # one master fewer and two "majorities" could be disjoint


@given(st.floats(0.001, 1e6), st.floats(0, 0.49))
def test_drift_is_ttl_times_factor_plus_2_ms(ttl: float, factor: float) -> None:
    assert p.drift(ttl, factor) == pytest.approx(ttl * factor + 0.002)


@given(
    st.lists(st.floats(0.0, 100.0), min_size=1, max_size=9),
    st.integers(1, 9),
    st.floats(0, 0.49),
    st.floats(-1e3, 1e3),
)
def test_validity_counts_the_needed_th_longest_life(
    lives: list[float], needed: int, factor: float, start: float
) -> None:
    result = p.valid_until(start, lives, needed, factor)
    if len(lives) < needed:
        assert result == float("-inf")
        return
    # independent oracle: the longest life L such that at least `needed` masters live >= L
    life = max(x for x in lives if sum(1 for y in lives if y >= x) >= needed)
    assert result == pytest.approx(start + life - (life * factor + 0.002))
    assert sum(1 for y in lives if start + y - p.drift(y, factor) >= result - 1e-9) >= needed


# --- one acquire round -------------------------------------------------------------------------


@given(
    outcomes=st.integers(1, 7).flatmap(lambda n: st.lists(outcome, min_size=n, max_size=n)),
    elapsed=st.floats(0.0, 12.0),
    factor=st.floats(0.0, 0.49),
)
def test_a_round_acquires_only_with_a_quorum_and_positive_validity(
    outcomes: list[tuple[str, Any]], elapsed: float, factor: float
) -> None:
    s = spec(len(outcomes), ttl=TTL_MS / 1000, drift_factor=factor)
    granted = [i for i, (kind, _) in enumerate(outcomes) if kind == "grant"]
    fences = {i: outcomes[i][1] for i in granted}
    rounds: list[float] = []

    def answer(request: Any, now: float) -> tuple[Any, float]:
        if isinstance(request, p.Call) and request.op is p.Op.ACQUIRE:
            rounds.append(now)
            return [acquire_reply(*o) for o in outcomes], now + elapsed
        if isinstance(request, p.Call) and request.op is p.Op.FENCE:
            return [1] * len(request.nodes), now
        if isinstance(request, p.Call):
            return [1] * len(request.nodes), now
        return None, now

    result, log = drive(p.acquire_steps(s, args(), 0.0, random.Random(0)), answer)
    validity = s.ttl - elapsed - (s.ttl * factor + 0.002)  # the paper's formula
    should = len(granted) >= s.quorum and validity > 0
    assert (result.hold is not None) == should, (outcomes, elapsed, result)
    calls = [r for r in log if isinstance(r, p.Call)]
    if should:
        hold = result.hold
        assert hold.fencing_token == max(fences.values())
        assert hold.valid_until == pytest.approx(rounds[0] + s.ttl - p.drift(s.ttl, factor))
        behind = [c for c in calls if c.op is p.Op.FENCE]
        expected_behind = tuple(i for i in granted if fences[i] < hold.fencing_token)
        assert [c.nodes for c in behind] == ([expected_behind] if expected_behind else [])
        assert all(c.args == ("tok", hold.fencing_token) for c in behind)
        assert not any(c.op is p.Op.RELEASE for c in calls)
        assert set(hold.unsure) == {i for i, (kind, _) in enumerate(outcomes) if kind == "fail"}
        return
    # a failed attempt is released everywhere it was granted (in every round)
    releases = [c for c in calls if c.op is p.Op.RELEASE]
    acquires = [c for c in calls if c.op is p.Op.ACQUIRE]
    assert len(releases) == (len(acquires) if granted else 0)
    assert all(c.nodes == tuple(granted) and c.args == ("tok",) for c in releases)
    answered = sum(1 for kind, _ in outcomes if kind != "fail")
    if answered < s.quorum:
        assert isinstance(result.error, (QuorumNotReachedError, LockBackendError))
        assert result.error.__cause__ is not None
    elif len(granted) >= s.quorum:  # granted but too slow: retried, then refused, never spun
        assert len(acquires) == p.MAX_SLOW_ROUNDS and isinstance(result.error, LockNotAcquiredError)
    else:
        assert result.error is None and len(acquires) == 1
    failed = {i for i, (kind, _) in enumerate(outcomes) if kind == "fail"}
    assert set(result.unsure) == failed  # to be cleaned up: their answer was lost


def test_a_master_behind_that_cannot_be_raised_does_not_count() -> None:
    """Fencing write-back: only masters holding (or raised to) the token make the quorum."""
    s = spec(3)

    def answer(request: Any, now: float) -> tuple[Any, float]:
        if isinstance(request, p.Call) and request.op is p.Op.ACQUIRE:
            return [[1, 9, TTL_MS], [1, 4, TTL_MS], [0, 500]], now
        if isinstance(request, p.Call) and request.op is p.Op.FENCE:
            return [0], now  # master 1 lost our key meanwhile
        return [1] * len(getattr(request, "nodes", ())), now

    result, log = drive(p.acquire_steps(s, args(), 0.0, random.Random(0)), answer)
    assert result.hold is None
    assert any(isinstance(r, p.Call) and r.op is p.Op.RELEASE and r.nodes == (0, 1) for r in log)


# --- the front-ends' shortcut: the first round without the driver -----------------------------


@given(
    first=st.integers(1, 7).flatmap(lambda n: st.lists(outcome, min_size=n, max_size=n)),
    elapsed=st.floats(0.0, 12.0),
    later=st.sampled_from(["grant", "deny", "fail"]),
    blocking=st.booleans(),
)
def test_the_shortcut_decides_as_the_acquire_loop(
    first: list[tuple[str, Any]], elapsed: float, later: str, blocking: bool
) -> None:
    """A front-end makes the first round's ``acquire_call`` itself and keeps ``hold_at_once``'s
    hold, or hands the answers to ``acquire_steps(first=...)``. Both must end exactly as the loop
    that made the call itself: the same hold (token, fence, validity, unsure) or outcome, and the
    same requests after the first round."""
    s = spec(len(first), ttl=TTL_MS / 1000, redlock=len(first) > 1)
    a = replace(args(blocking=blocking, wait=0.5), call_id="call")
    answers = [acquire_reply(*o) for o in first]

    def answer(request: Any, now: float) -> tuple[Any, float]:
        if isinstance(request, p.Call) and request.op is p.Op.ACQUIRE:
            replies = {"grant": [1, 60, TTL_MS], "deny": [0, 300], "fail": p.Failed(ConnectionError("x"))}
            reply = replies[later]
            return [reply for _ in request.nodes], now + 0.01
        if isinstance(request, p.Call):
            return [1] * len(request.nodes), now
        if isinstance(request, p.Sleep):
            return False, now + request.seconds
        return False, now

    def first_then(request: Any, now: float) -> tuple[Any, float]:
        if not log_full:  # the loop's own first call: the same answers, the same time
            log_full.append(request)
            return answers, now + elapsed
        return answer(request, now)

    log_full: list[Any] = []
    full, rest_full = drive(p.acquire_steps(s, a, 0.0, random.Random(3)), first_then)
    assert rest_full[0] == p.acquire_call(s, a, 0.0)  # the call the shortcut makes
    hold = p.hold_at_once(s, a, 0.0, answers, elapsed)
    if hold is not None:  # the loop, too, held at once: no other request (no fence write-back)
        assert full.hold == hold and full.error is None and full.unsure == ()
        assert len(rest_full) == 1
        return
    resumed = p.acquire_steps(s, a, 0.0, random.Random(3), (answers, elapsed))
    shortcut, rest = drive(resumed, answer, elapsed)
    assert rest == rest_full[1:]
    assert (shortcut.hold, shortcut.unsure) == (full.hold, full.unsure)
    assert repr(shortcut.error) == repr(full.error)


def test_the_release_shortcut_makes_the_loops_call() -> None:
    s = spec(3)
    hold = p.Hold("tok", "c", 5, valid_until=9.0)
    _, log = drive(p.release_steps(s, hold), lambda request, now: ([1, 1, 0], now))
    assert log == [p.release_call(s, hold)]


# --- waiting, deadlines, unreachable masters -------------------------------------------------


@given(wait=st.one_of(st.none(), st.floats(0.0, 8.0)), sleep=st.floats(0.01, 2.0), redlock=st.booleans())
def test_a_blocking_acquire_on_a_held_lock_ends_at_its_deadline_and_waits_at_most_sleep(
    wait: float | None, sleep: float, redlock: bool
) -> None:
    s = spec(3 if redlock else 1, redlock=redlock)
    end_of_world = 5.0  # the holder releases at this time

    def answer(request: Any, now: float) -> tuple[Any, float]:
        if isinstance(request, p.Sleep):
            assert request.seconds <= sleep + 1e-9  # sleep is the longest wait between attempts
            return False, now + request.seconds
        if isinstance(request, p.Subscribe):
            return False, now
        if request.op is p.Op.ACQUIRE:
            free = now >= end_of_world
            return [[1, 1, TTL_MS] if free else [0, 60_000] for _ in request.nodes], now + 0.001
        return [1] * len(request.nodes), now

    result, log = drive(
        p.acquire_steps(s, args(blocking=True, wait=wait, sleep=sleep), 0.0, random.Random(1)), answer
    )
    attempts = [r for r in log if isinstance(r, p.Call) and r.op is p.Op.ACQUIRE]
    if wait is None or wait >= end_of_world:
        assert result.hold is not None
    else:
        assert result.hold is None and result.error is None
        assert len(attempts) <= wait / (sleep / 2 if redlock else sleep) + 3


@given(wait=st.one_of(st.none(), st.floats(0.0, 3.0)), redlock=st.booleans())
def test_unreachable_masters_fail_within_the_deadline_or_the_patience(
    wait: float | None, redlock: bool
) -> None:
    s = spec(3 if redlock else 1, redlock=redlock)
    refused = ConnectionError("Connection refused")

    def answer(request: Any, now: float) -> tuple[Any, float]:
        if isinstance(request, p.Sleep):
            return False, now + request.seconds
        return [p.Failed(refused) for _ in request.nodes], now + 0.01

    result, log = drive(p.acquire_steps(s, args(blocking=True, wait=wait), 0.0, random.Random(1)), answer)
    assert result.hold is None
    assert isinstance(result.error, QuorumNotReachedError if redlock else LockBackendError)
    assert result.error.__cause__ is refused and "Connection refused" in str(result.error)
    waited = sum(r.seconds for r in log if isinstance(r, p.Sleep))
    limit = p.UNREACHABLE_PATIENCE if wait is None else wait
    assert waited <= limit + 1e-9
    assert waited >= limit - p.BACKEND_RETRY - 0.02 * len(log)


def test_an_error_reply_is_not_retried() -> None:
    s = spec(1, redlock=False)
    wrong = ValueError("WRONGTYPE Operation against a key holding the wrong kind of value")

    def answer(request: Any, now: float) -> tuple[Any, float]:
        return [p.Failed(wrong, transient=False)], now

    result, log = drive(p.acquire_steps(s, args(blocking=True, wait=10), 0.0, random.Random(1)), answer)
    assert isinstance(result.error, LockBackendError) and result.error.__cause__ is wrong
    assert len(log) == 1


# --- release and renewal -----------------------------------------------------------------------

answers = st.integers(1, 7).flatmap(
    lambda n: st.lists(st.sampled_from(["yes", "no", "fail"]), min_size=n, max_size=n)
)


@given(answers)
def test_release_says_what_happened(kinds: list[str]) -> None:
    s = spec(len(kinds))
    replies = [1 if k == "yes" else 0 if k == "no" else p.Failed(ConnectionError("x")) for k in kinds]
    outcome = p.judge_release(s, replies)
    yes, no = kinds.count("yes"), kinds.count("no")
    if yes >= s.quorum:
        assert outcome.status is p.Status.DONE
    elif no >= len(kinds) - s.quorum + 1:  # no majority can still hold our key
        assert outcome.status is p.Status.NOT_OWNED
    else:
        assert outcome.status is p.Status.UNKNOWN and isinstance(outcome.error, LockBackendError)
    assert outcome.failed == tuple(i for i, k in enumerate(kinds) if k == "fail")


@given(
    st.integers(1, 7).flatmap(
        lambda n: st.lists(st.just(-1) | st.integers(1, 20_000), min_size=n, max_size=n)
    ),
    st.lists(st.booleans(), min_size=7, max_size=7),
    st.floats(0, 0.49),
)
def test_renewal_validity_is_the_quorum_th_longest_remaining_life(
    lives: list[int], failing: list[bool], factor: float
) -> None:
    s = spec(len(lives), drift_factor=factor)
    replies: list[Any] = [p.Failed(TimeoutError()) if failing[i] else v for i, v in enumerate(lives)]
    outcome = p.judge_renewal(s, replies, 100.0)
    renewed = sorted((v / 1000 for i, v in enumerate(lives) if not failing[i] and v > 0), reverse=True)
    if len(renewed) >= s.quorum:
        life = renewed[s.quorum - 1]
        assert outcome.status is p.Status.DONE
        assert outcome.valid_until == pytest.approx(100.0 + life - p.drift(life, factor))
    elif sum(1 for i, v in enumerate(lives) if not failing[i] and v < 0) > len(lives) - s.quorum:
        assert outcome.status is p.Status.NOT_OWNED
    else:
        assert outcome.status is p.Status.UNKNOWN


@given(st.lists(st.sampled_from(["renewed", "unknown", "slow"]), min_size=1, max_size=30))
def test_the_watchdog_reports_a_loss_by_the_validity_plus_one_call(outcomes: list[str]) -> None:
    """Whatever the renewals answer, a loss is reported no later than the validity plus the
    duration of the call in flight; and no wait runs past the validity."""
    hold = p.Hold("tok", "c", 1, valid_until=3.0)
    call = 0.4
    script = iter(outcomes)

    def answer(request: Any, now: float) -> tuple[Any, float]:
        if isinstance(request, p.Sleep):
            assert now + request.seconds <= max(hold.valid_until, now) + 1e-9
            return False, now + request.seconds
        kind = next(script, "unknown")
        if kind == "renewed":
            hold.valid_until = now + 3.0
            return p.Outcome(p.Status.DONE, hold.valid_until), now + 0.01
        return p.Outcome(p.Status.UNKNOWN, error=LockBackendError("down")), now + (
            call if kind == "slow" else 0.01
        )

    stepper, now, last_valid = p.Stepper(p.watchdog_steps(hold, 3000, 1.0, 0.0)), 0.0, hold.valid_until
    while (request := stepper.next()) is not None:
        last_valid = hold.valid_until
        value, now = answer(request, now)
        stepper.reply((value, now))
    assert stepper.result is not None and "TTL ran out" in stepper.result
    assert now <= last_valid + call + 1e-9


def test_the_watchdog_stops_quietly_when_released() -> None:
    hold = p.Hold("tok", "c", 1, valid_until=3.0)
    result, _ = drive(p.watchdog_steps(hold, 3000, 1.0, 0.0), lambda r, now: (True, now + 0.5))
    assert result is None


@given(st.lists(st.tuples(st.integers(0, 2), st.booleans()), min_size=1, max_size=12))
def test_cleanup_retries_only_what_failed_and_skips_a_master_once_it_failed(
    jobs_spec: list[tuple[int, bool]],
) -> None:
    down = {node for node, up in jobs_spec if not up}
    jobs = [p.Abandoned(f"t{i}", f"c{i}", (node,), give_up_at=100.0) for i, (node, _) in enumerate(jobs_spec)]
    calls: list[tuple[int, ...]] = []

    def answer(request: Any, now: float) -> tuple[Any, float]:
        calls.append(request.nodes)
        return [p.Failed(TimeoutError()) if n in down else 1 for n in request.nodes], now + 1

    (left, _), _ = drive(p.cleanup_steps(jobs, 0.0), answer)
    assert {job.nodes[0] for job in left} == {node for node, _ in jobs_spec if node in down}
    assert len(left) == sum(1 for node, _ in jobs_spec if node in down)
    assert sum(1 for nodes in calls for n in nodes if n in down) == len(down)  # one failed call each


# --- settings ----------------------------------------------------------------------------------


def settings_of(**overrides: Any) -> Any:
    """make_settings with the constructor's defaults (3 masters) and ``overrides``."""
    values: dict[str, Any] = {
        "masters": 3,
        "ttl": None,
        "timeout": None,
        "sleep": None,
        "blocking": True,
        "blocking_timeout": None,
        "thread_local": True,
        "raise_on_release_error": True,
        "auto_renew": None,
        "on_lost": None,
        "renew_interval": None,
        "call_timeout": None,
        "call_timeout_name": "node_timeout",
        "drift_factor": 0.01,
    }
    return make_settings(**{**values, **overrides})


@given(
    masters=st.integers(1, 7),
    ttl=st.floats(1e-4, 20.0),
    factor=st.floats(0.0, 0.6),
    node_timeout=st.one_of(st.none(), st.floats(0.001, 5.0)),
)
def test_settings_refuse_what_cannot_work(
    masters: int, ttl: float, factor: float, node_timeout: float | None
) -> None:
    lose = masters - p.quorum(masters)
    options = {"masters": masters, "ttl": ttl, "renew_interval": ttl / 4, "call_timeout": node_timeout}
    options["drift_factor"] = factor
    waiting = lose * (node_timeout or 0.0)
    works = (
        factor < 0.5
        and ttl - p.drift(ttl, factor) - waiting >= MIN_VALIDITY
        and ttl / 4 < ttl - p.drift(ttl, factor)
    )
    if not works:
        with pytest.raises(ValueError, match=r"ttl|drift_factor|renew_interval"):
            settings_of(**options)
        return
    settings = settings_of(**options)
    # a round that waits on every master Redlock may lose still leaves validity
    assert settings.ttl - p.drift(settings.ttl, factor) - lose * settings.call_timeout >= MIN_VALIDITY - 1e-12


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ttl": 0.002}, "ttl=0.002 s is too short"),
        ({"drift_factor": 1.0}, r"drift_factor must be in \[0, 0.5\)"),
        ({"ttl": 1e16}, r"at most 1e\+09 seconds"),
        ({"ttl": 1, "timeout": 2}, "same setting"),
        ({"ttl": 0.5, "call_timeout": 0.3, "masters": 5}, "node_timeout smaller"),
    ],
)
def test_bad_durations_name_the_parameter_and_the_bound(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        settings_of(**kwargs)


def test_timeout_is_the_ttl_and_no_ttl_means_renewed() -> None:
    alias = settings_of(masters=1, timeout=30)
    assert alias.ttl == 30 and not alias.auto_renew
    default = settings_of(masters=1)
    assert default.ttl == 10 and default.auto_renew and default.sleep == 0.1
    assert settings_of(masters=1, ttl=5, timeout=5).ttl == 5
    assert MAX_TTL == 1e9


@given(st.floats(0, 1e300) | st.just(float("inf")))
def test_any_blocking_timeout_is_a_deadline_or_forever(wait: float) -> None:
    settings = settings_of(masters=1)
    got = acquire_args(settings, None, None, wait, None, {}, "RedisLock")
    assert got.wait == (None if wait == float("inf") else wait)
    # a huge wait never reaches a primitive: every single wait is at most MAX_WAIT_STEP
    stepper, now = (
        p.Stepper(p.acquire_steps(spec(1, redlock=False), replace(got, sleep=1e12), 0.0, random.Random(0))),
        0.0,
    )
    for _ in range(6):
        request = stepper.next()
        if isinstance(request, p.Sleep):
            assert request.seconds <= p.MAX_WAIT_STEP
            stepper.reply((False, now + request.seconds))
        elif isinstance(request, p.Subscribe):
            stepper.reply((False, now))
        else:
            stepper.reply(([[0, 2**62]], now))
