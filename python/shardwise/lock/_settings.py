"""The lock's settings: redis-py's Lock keywords plus ours, checked once (pure: no I/O).

Durations that cannot work are refused with a message naming the parameter and the bound:
``drift_factor`` in [0, 0.5); ``ttl`` at most :data:`MAX_TTL` and long enough to leave
:data:`MIN_VALIDITY` of validity after the drift allowance and, for Redlock, after waiting on the
masters it may lose (``N - quorum`` of them, ``node_timeout`` each, called one by one).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shardwise.lock._common import new_token
from shardwise.lock._protocol import AcquireArgs, drift, quorum

DEFAULT_TTL = 10.0  # seconds, when neither ttl nor timeout is given (then auto_renew defaults on)
DEFAULT_SLEEP = 0.1  # redis-py's default: the longest wait between two attempts
MAX_TTL = 1e9  # seconds (~31.7 years): Redis refuses expiry times near 2**63 ms
MIN_VALIDITY = 0.001  # seconds of validity a round must be able to keep
SINGLE_MASTER_DRIFT = 0.01  # RedisLock's drift factor
MAX_CALL_TIMEOUT = 1.0  # default call bound: min(ttl / 3, 1 s) ...
MIN_CALL_TIMEOUT = 0.01  # ... but at least 10 ms


def seconds(value: object, what: str, *, allow_zero: bool = False) -> float:
    """A duration in seconds: a finite real number > 0 (or >= 0 with ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what} must be a number of seconds, got {type(value).__name__}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} must be finite, got {value!r}")
    if number < 0 or (number == 0 and not allow_zero):
        raise ValueError(f"{what} must be {'>= 0' if allow_zero else '> 0'} seconds, got {value!r}")
    return number


def flag(value: object, what: str) -> bool:
    if not isinstance(value, (bool, int)):
        raise TypeError(f"{what} must be a bool, got {type(value).__name__}")
    return bool(value)


@dataclass(frozen=True)
class Settings:
    ttl: float
    auto_renew: bool
    renew_interval: float
    sleep: float
    blocking: bool
    blocking_timeout: float | None  # None: wait as long as needed
    thread_local: bool
    raise_on_release_error: bool
    call_timeout: float  # bound of one call to one master
    drift_factor: float
    on_lost: Callable[[Any], object] | None


def make_settings(
    *,
    masters: int,
    ttl: object,
    timeout: object,
    sleep: object,
    blocking: object,
    blocking_timeout: object,
    thread_local: object,
    raise_on_release_error: object,
    auto_renew: object,
    on_lost: object,
    renew_interval: object,
    call_timeout: object,
    call_timeout_name: str,
    drift_factor: object,
) -> Settings:
    """Check and complete the constructor's settings (``timeout`` is redis-py's name for ``ttl``)."""
    if ttl is not None and timeout is not None and ttl != timeout:
        raise ValueError(
            f"ttl and timeout are the same setting (timeout is redis-py's name for the TTL); "
            f"got ttl={ttl!r} and timeout={timeout!r}"
        )
    given = ttl if ttl is not None else timeout
    life = DEFAULT_TTL if given is None else _ttl(given)
    factor = seconds(drift_factor, "drift_factor", allow_zero=True)
    if factor >= 0.5:
        raise ValueError(f"drift_factor must be in [0, 0.5), got {drift_factor!r}")
    lose = masters - quorum(masters)
    bound = _call_timeout(call_timeout, call_timeout_name, life, factor, lose)
    _check_validity(life, factor, lose, bound, call_timeout_name, explicit=call_timeout is not None)
    interval = life / 3 if renew_interval is None else seconds(renew_interval, "renew_interval")
    if interval >= life - drift(life, factor):
        raise ValueError(
            f"renew_interval ({interval} s) must be shorter than the validity of a hold, "
            f"ttl - drift = {life - drift(life, factor):.4f} s (ttl={life})"
        )
    if on_lost is not None and not callable(on_lost):
        raise TypeError(f"on_lost must be callable, got {type(on_lost).__name__}")
    return Settings(
        ttl=life,
        auto_renew=given is None if auto_renew is None else flag(auto_renew, "auto_renew"),
        renew_interval=interval,
        sleep=DEFAULT_SLEEP if sleep is None else seconds(sleep, "sleep"),
        blocking=flag(blocking, "blocking"),
        blocking_timeout=_wait(blocking_timeout),
        thread_local=bool(thread_local),
        raise_on_release_error=bool(raise_on_release_error),
        call_timeout=bound,
        drift_factor=factor,
        on_lost=on_lost,
    )


def _ttl(value: object) -> float:
    life = seconds(value, "ttl")
    if life > MAX_TTL:
        raise ValueError(
            f"ttl must be at most {MAX_TTL:g} seconds (Redis refuses longer expiry times), got {value!r}"
        )
    return life


def _call_timeout(value: object, name: str, life: float, factor: float, lose: int) -> float:
    if value is not None:
        return seconds(value, name)
    bound = min(MAX_CALL_TIMEOUT, max(MIN_CALL_TIMEOUT, life / 3))
    if lose:  # leave room to wait on every master Redlock may lose, one after another
        bound = min(bound, (life - drift(life, factor) - MIN_VALIDITY) / (lose + 1))
    return max(bound, 1e-4)


def _check_validity(
    life: float, factor: float, lose: int, bound: float, name: str, *, explicit: bool
) -> None:
    """Refuse a ttl whose validity cannot stay positive (see the module docstring)."""
    waiting = lose * bound if explicit else 0.0
    if life - drift(life, factor) - waiting >= MIN_VALIDITY:
        return
    shortest = (MIN_VALIDITY + 0.002 + waiting) / (1 - factor)
    why = f"the drift allowance (ttl * {factor} + 0.002 s)"
    if waiting:
        why += f" and waiting on the {lose} masters Redlock may lose ({name}={bound} s each)"
    raise ValueError(
        f"ttl={life} s is too short: {why} leave less than {MIN_VALIDITY} s of validity; "
        f"ttl must be at least {shortest:.4g} s" + (f", or {name} smaller" if waiting else "")
    )


def _wait(value: object) -> float | None:
    """blocking_timeout: None or infinity waits as long as needed; otherwise seconds >= 0."""
    if value is None or (isinstance(value, float) and value == math.inf):
        return None
    return seconds(value, "blocking_timeout", allow_zero=True)


def acquire_args(
    settings: Settings,
    sleep: object,
    blocking: object,
    blocking_timeout: object,
    token: object,
    unexpected: Mapping[str, object],
    kind: str,
) -> AcquireArgs:
    """The arguments of one acquire: redis-py's ``acquire(sleep, blocking, blocking_timeout, token)``,
    with clear errors for the calls that meant something else before."""
    fresh = new_token(32)  # one draw for the owner token and the call id
    if sleep is None and blocking is None and blocking_timeout is None and token is None and not unexpected:
        return AcquireArgs(  # the common call, acquire() with the constructor's settings
            settings.sleep, settings.blocking, settings.blocking_timeout, fresh[:32], True, fresh[32:]
        )
    if "timeout" in unexpected:
        raise TypeError(
            f"{kind}.acquire() takes no 'timeout': write acquire(blocking_timeout=...) for the wait, "
            "as in redis-py; the constructor's timeout is the lock's TTL"
        )
    if unexpected:
        raise TypeError(f"{kind}.acquire() got an unexpected keyword argument {next(iter(unexpected))!r}")
    if isinstance(sleep, bool):
        raise TypeError(
            f"{kind}.acquire({sleep}): the first parameter of acquire() is sleep (seconds between "
            f"attempts), as in redis-py's Lock; write acquire(blocking={sleep})"
        )
    if token is None:
        value: str | bytes = fresh[:32]
    elif isinstance(token, (str, bytes)) and token:
        value = token
    else:
        raise TypeError(f"token must be a non-empty str or bytes, got {type(token).__name__}")
    return AcquireArgs(
        sleep=settings.sleep if sleep is None else seconds(sleep, "sleep"),
        blocking=settings.blocking if blocking is None else flag(blocking, "blocking"),
        wait=settings.blocking_timeout if blocking_timeout is None else _wait(blocking_timeout),
        token=value,
        reclaim=token is None,
        call_id=fresh[32:],
    )


def extension(additional_time: object, replace_ttl: object) -> tuple[int, bool]:
    """``extend``'s arguments as (milliseconds, replace)."""
    replace = flag(replace_ttl, "replace_ttl")
    added = seconds(additional_time, "additional_time", allow_zero=not replace)
    if added > MAX_TTL:
        raise ValueError(f"additional_time must be at most {MAX_TTL:g} seconds, got {additional_time!r}")
    ms = round(added * 1000)
    return (max(1, ms) if replace else ms), replace
