"""The per-node state machine: HAProxy rise/fall semantics, with reasons."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from shardwise import ConfigurationError, HealthTracker, NodeState

U, S, D, R = NodeState.UP, NodeState.SUSPECT, NodeState.DOWN, NodeState.RECOVERING


def run(tracker: HealthTracker, outcomes: str) -> list[NodeState]:
    states = []
    for i, c in enumerate(outcomes):
        tracker.observe(c == "+", float(i), "probe")
        states.append(tracker.state)
    return states


def reference(outcomes: str, rise: int, fall: int) -> list[NodeState]:
    """Consecutive-count model written independently of HealthTracker."""
    up, streak_ok, streak_ko, out = True, 0, 0, []
    for c in outcomes:
        if c == "+":
            streak_ok, streak_ko = streak_ok + 1, 0
        else:
            streak_ok, streak_ko = 0, streak_ko + 1
        if up and streak_ko >= fall:
            up = False
        elif not up and streak_ok >= rise:
            up = True
        if up:
            out.append(S if streak_ko > 0 else U)
        else:
            out.append(R if streak_ok > 0 else D)
    return out


@pytest.mark.parametrize(
    "outcomes",
    ["+++", "-", "--", "---", "-+-", "--+--", "---+", "---++", "---+-++", "-------+-+-++", "---++---++"],
)
@pytest.mark.parametrize(("rise", "fall"), [(2, 3), (1, 1), (3, 2)])
def test_sequences_follow_rise_fall(outcomes: str, rise: int, fall: int) -> None:
    assert run(HealthTracker("n", rise=rise, fall=fall), outcomes) == reference(outcomes, rise, fall)


def test_events_carry_old_new_and_reason() -> None:
    t = HealthTracker("db", rise=2, fall=3)
    events = [
        t.observe(c == "+", float(i), "HTTP 503" if c == "-" else "HTTP 200") for i, c in enumerate("---++")
    ]
    changes = [(e.old, e.new) for e in events if e is not None]
    assert changes == [(U, S), (S, D), (D, R), (R, U)]
    down = events[2]
    assert down is not None and down.node == "db" and down.at == 2.0
    assert "3/3 checks failed" in down.reason and "HTTP 503" in down.reason
    assert events[1] is None  # suspect → suspect is no event
    assert t.changing is False and t.state is U


def test_initial_down_needs_rise_successes() -> None:
    t = HealthTracker("n", rise=2, fall=3, initial="down")
    assert run(t, "+") == [R]
    assert run(t, "+") == [U]


def test_invalid_settings() -> None:
    with pytest.raises(ConfigurationError, match="rise"):
        HealthTracker("n", rise=0)
    with pytest.raises(ConfigurationError, match="fall"):
        HealthTracker("n", fall=0)
    with pytest.raises(ConfigurationError, match="initial"):
        HealthTracker("n", initial="suspect")
    with pytest.raises(ValueError):
        HealthTracker("n", initial="sideways")


@given(
    outcomes=st.text(alphabet="+-", max_size=40),
    rise=st.integers(1, 5),
    fall=st.integers(1, 5),
)
def test_random_sequences_match_the_reference(outcomes: str, rise: int, fall: int) -> None:
    tracker = HealthTracker("n", rise=rise, fall=fall)
    seen = []
    for i, c in enumerate(outcomes):
        event = tracker.observe(c == "+", float(i))
        if event is not None:
            assert event.old is not event.new
            seen.append(event.new)
    states = reference(outcomes, rise, fall)
    assert tracker.state is (states[-1] if states else U)
    # one event per change of state, in order
    changes = [s for prev, s in zip([U, *states], states, strict=False) if s is not prev]
    assert seen == changes
