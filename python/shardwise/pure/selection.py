"""Pure-Python twins of the selection balancers (see :mod:`shardwise.selection`).

Same API and, for a given seed and clock, the same picks as the Rust classes: every float
operation is done in the same order, and the generator is the same xoshiro256** seeded by
SplitMix64. The same checks and messages (:mod:`shardwise.pure.validate`), the same state dict
(``to_state()``, pickles). :class:`Sticky` is pure Python in both worlds: it is
:class:`shardwise.selection.Sticky`, re-exported here.
"""

from __future__ import annotations

import contextlib
import math
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypedDict

import numpy as np
import numpy.typing as npt

from shardwise._core import BALANCERS
from shardwise.errors import ConfigurationError, NoAvailableBackendError, UnknownNodeError
from shardwise.pure.validate import callable_setting, int_param, node_name, number, quoted, type_name
from shardwise.pure.validate import weight as weight_value
from shardwise.selection import Sticky, restore

if TYPE_CHECKING:
    from typing_extensions import Unpack

_MASK = (1 << 64) - 1
_TWO_64 = 18446744073709551616.0
MAX_WEIGHT = 1e15
_MAX_THINNING_TRIES = 64
UP, DOWN, DRAINING = "up", "down", "draining"
_RELEASE_LOCK = threading.Lock()  # makes Lease.release() happen once under races
STATE_VERSION = 1
#: Defaults of the settings every balancer takes, and of PowerOfTwo's and LoadAware's own.
DEFAULTS: dict[str, float] = {
    "panic_threshold": 0.0,
    "slow_start": 0.0,
    "slow_start_floor": 0.1,
    "min_share": 0.05,
    "decay": 10.0,
    "default_rtt": 0.03,
}
_XOSHIRO_JUMP = (0x180EC6D33CFD0ABA, 0xD5A61266F0C9392C, 0xA9582618E03FC9AA, 0x39ABDC4529B1661C)

Backends = Mapping[str, float] | Iterable[str] | None
Clock = Callable[[], float]


def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & _MASK


class Rng:
    """xoshiro256** seeded through SplitMix64, as the Rust core (``selection::rng``)."""

    __slots__ = ("s",)

    def __init__(self, seed: int) -> None:
        sm = seed & _MASK
        s = []
        for _ in range(4):
            sm = (sm + 0x9E3779B97F4A7C15) & _MASK
            z = sm
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
            s.append(z ^ (z >> 31))
        self.s = s

    def next_u64(self) -> int:
        s0, s1, s2, s3 = self.s
        result = (_rotl((s1 * 5) & _MASK, 7) * 9) & _MASK
        t = (s1 << 17) & _MASK
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = _rotl(s3, 45)
        self.s = [s0, s1, s2, s3]
        return result

    def jump(self) -> None:
        """Advance by 2**128 draws (xoshiro256**'s published jump polynomial)."""
        acc = [0, 0, 0, 0]
        for word in _XOSHIRO_JUMP:
            for bit in range(64):
                if word >> bit & 1:
                    acc = [a ^ s for a, s in zip(acc, self.s, strict=True)]
                self.next_u64()
        self.s = acc

    def split_off(self) -> Rng:
        """The current stream; this generator jumps 2**128 draws ahead (as the Rust core)."""
        stream = Rng(0)
        stream.s = list(self.s)
        self.jump()
        return stream

    def below(self, n: int) -> int:
        """Uniform index in ``[0, n)``: high 64 bits of ``u * n``."""
        return (self.next_u64() * n) >> 64

    def unit(self) -> float:
        """Uniform float in ``[0, 1)`` from 53 bits."""
        return (self.next_u64() >> 11) * (1.0 / 9007199254740992.0)


class _Backend:
    __slots__ = (
        "active", "backup", "current", "ewma", "factor", "health", "id", "load", "load_mult",
        "name", "stamp", "up_since", "weight",
    )  # fmt: skip

    def __init__(self, name: str, weight: float, backup: bool, ident: int, now: float, ewma: float) -> None:
        self.name = name
        self.weight = weight
        self.factor = 1.0
        self.load = 0.0
        self.load_mult = 1.0
        self.health = UP
        self.backup = backup
        self.id = ident
        self.up_since: float | None = None
        self.current = 0.0
        self.active = 0
        self.ewma = ewma
        self.stamp = now


def _check_weight(name: str, weight: float) -> None:
    if not (math.isfinite(weight) and 0.0 < weight <= MAX_WEIGHT):
        raise ConfigurationError(
            f"weight of node {quoted(name)} must be a finite number in (0, 1e15], got {weight!r}"
        )


def _check_factor(name: str, factor: float) -> None:
    if not (math.isfinite(factor) and 0.0 < factor <= MAX_WEIGHT):
        raise ConfigurationError(
            f"weight factor of node {quoted(name)} must be a finite number in (0, 1e15], got {factor!r}"
        )


def _parse_backends(obj: Backends, what: str) -> list[tuple[str, float]]:
    if obj is None:
        return []
    if isinstance(obj, (str, bytes)):
        raise TypeError(
            f"{what} must be a mapping name -> weight or an iterable of names, not a single string"
        )
    if isinstance(obj, Mapping) or hasattr(obj, "items"):
        return [(node_name(name), weight_value(name, w)) for name, w in obj.items()]
    try:
        names = list(obj)
    except TypeError:
        raise TypeError(
            f"{what} must be a mapping name -> weight or an iterable of names, not {type_name(obj)}"
        ) from None
    return [(node_name(name), 1.0) for name in names]


def _seed(settings: dict[str, Any]) -> int:
    seed = settings.get("seed")
    return random.getrandbits(64) if seed is None else int_param("seed", seed, 0, _MASK)


COMMON_SETTINGS = ("panic_threshold", "slow_start", "slow_start_floor", "clock")


class Settings(TypedDict, total=False):
    """The keyword settings every balancer takes."""

    panic_threshold: float
    slow_start: float
    slow_start_floor: float
    clock: Clock | None


class LoadAwareSettings(Settings, total=False):
    seed: int | None
    min_share: float


class _Balancer:
    """Pool of backends with health, backups, panic threshold and slow start (as ``Pool``)."""

    #: The keyword settings of the class beyond those every balancer takes (as the Rust class).
    SETTINGS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, backends: Backends = None, *, backups: Backends = None, **given: Any) -> None:
        """``given``: the keyword settings, checked in the order and with the messages of the
        Rust classes (``clock=None`` and ``seed=None`` mean none)."""
        for key in given:
            if key not in COMMON_SETTINGS and key not in self.SETTINGS:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {key!r}")
        settings = {k: v for k, v in given.items() if v is not None or k not in ("clock", "seed")}
        kept: dict[str, Any] = {}

        def setting(name: str) -> float:
            value = number(name, settings[name]) if name in settings else DEFAULTS[name]
            kept[name] = value
            return value

        panic_threshold = setting("panic_threshold")
        slow_start = setting("slow_start")
        slow_start_floor = setting("slow_start_floor")
        min_share = setting("min_share") if "min_share" in settings else DEFAULTS["min_share"]
        if not (math.isfinite(panic_threshold) and 0.0 <= panic_threshold <= 100.0):
            raise ConfigurationError(
                f"panic_threshold must be a percentage in [0, 100], got {panic_threshold!r}"
            )
        if not (math.isfinite(slow_start) and slow_start >= 0.0):
            raise ConfigurationError(
                f"slow_start must be a finite number of seconds >= 0, got {slow_start!r}"
            )
        if not (0.0 < slow_start_floor <= 1.0):
            raise ConfigurationError(f"slow_start_floor must be in (0, 1], got {slow_start_floor!r}")
        if not (0.0 < min_share <= 1.0):
            raise ConfigurationError(f"min_share must be in (0, 1], got {min_share!r}")
        clock = settings.get("clock")
        if clock is not None:
            callable_setting("clock", clock)
            kept["clock"] = clock
        self._panic_threshold = panic_threshold
        self._slow_start = slow_start
        self._floor = slow_start_floor
        self._min_share = min_share
        self._clock: Clock | None = clock
        self._timed = self._algorithm(settings, kept) or slow_start > 0.0
        self._settings = kept
        self._lock = threading.Lock()
        self._backends: list[_Backend] = []
        self._index: dict[str, int] = {}
        self._next_id = 1
        self._fresh = False
        self._members: list[int] = []
        self._base: list[float] = []
        self._total = 0.0
        self._ramping = False
        self._ramp_end = 0.0
        self._mode = "empty"
        primaries = _parse_backends(backends, "backends")
        extra = _parse_backends(backups, "backups")
        now = self._now()
        for (name, weight), backup in [(p, False) for p in primaries] + [(p, True) for p in extra]:
            self._add(name, weight, backup, None, now)

    def _algorithm(self, settings: dict[str, Any], kept: dict[str, Any]) -> bool:
        """Set up the algorithm from its own settings (their checked values go into ``kept``);
        whether picks need the time even without slow start."""
        return False

    # --- hooks of the algorithms ------------------------------------------------------------
    def _initial_ewma(self) -> float:
        return 0.0

    def _rebuild(self) -> None:
        pass

    def _flush(self) -> None:
        pass

    def _on_release(self, b: _Backend, latency: float | None, now: float) -> None:
        pass

    # --- clock ------------------------------------------------------------------------------
    def _now(self) -> float:
        if not self._timed:
            return 0.0
        t = self._clock() if self._clock is not None else time.monotonic()
        try:
            value = number("clock()", t)
        except TypeError:
            raise TypeError("clock() must return a number of seconds (float)") from None
        if not math.isfinite(value):
            raise ValueError(f"clock() returned {value!r}, not a finite time")
        return value

    # --- pool -------------------------------------------------------------------------------
    def _position(self, name: str) -> int:
        try:
            return self._index[name]
        except (KeyError, TypeError):
            raise UnknownNodeError(f"unknown node {quoted(name)}") from None

    def _changing(self) -> None:
        if self._fresh:
            self._flush()
            self._fresh = False

    def _add(self, name: str, weight: float, backup: bool, ramp_from: float | None, now: float) -> None:
        _check_weight(name, weight)
        if name in self._index:
            raise ConfigurationError(f"duplicate node name {quoted(name)}")
        self._changing()
        b = _Backend(name, float(weight), backup, self._next_id, now, self._initial_ewma())
        if ramp_from is not None and self._slow_start > 0.0:
            b.up_since = ramp_from
        self._next_id += 1
        self._backends.append(b)
        self._index[name] = len(self._backends) - 1

    def _reindex(self) -> None:
        self._index = {b.name: i for i, b in enumerate(self._backends)}

    def _rebuild_view(self) -> None:
        bs = self._backends
        n_primary = sum(1 for b in bs if not b.backup)
        n_up_primary = sum(1 for b in bs if not b.backup and b.health == UP)
        any_up_backup = any(b.backup and b.health == UP for b in bs)
        t = self._panic_threshold
        panicking = n_primary > 0 and t > 0.0 and float(n_up_primary) * 100.0 < t * float(n_primary)
        if panicking:
            mode = "backup" if n_up_primary == 0 and any_up_backup else "panic"
        elif n_up_primary > 0:
            mode = "normal"
        elif any_up_backup:
            mode = "backup"
        else:
            mode = "empty"
        members: list[int] = []
        base: list[float] = []
        total = 0.0
        for i, b in enumerate(bs):
            if mode == "normal":
                keep = not b.backup and b.health == UP
            elif mode == "backup":
                keep = b.backup and b.health == UP
            else:
                keep = mode == "panic" and not b.backup
            if keep:
                w = b.weight * b.factor * b.load_mult
                members.append(i)
                base.append(w)
                total += w
        self._members, self._base, self._total, self._mode = members, base, total, mode
        ends = [b.up_since + self._slow_start for b in bs if b.up_since is not None]
        self._ramping = bool(ends)
        self._ramp_end = max(ends) if ends else -math.inf

    def _ready(self, now: float) -> None:
        if not self._fresh:
            self._rebuild_view()
            self._rebuild()
            self._fresh = True
        if self._ramping and now >= self._ramp_end:
            for b in self._backends:
                b.up_since = None
            self._ramping = False
        if not self._members:
            if not self._backends:
                raise NoAvailableBackendError("no backend can be picked: the balancer has no nodes")
            raise NoAvailableBackendError(
                f"no backend can be picked: none of the {len(self._backends)} nodes is up"
            )

    def _ramp(self, i: int, now: float) -> float:
        t0 = self._backends[i].up_since
        if t0 is None:
            return 1.0
        frac = (now - t0) / self._slow_start
        return 1.0 if frac >= 1.0 else max(frac, self._floor)

    def _member_weight(self, k: int, now: float) -> float:
        w = self._base[k]
        return w * self._ramp(self._members[k], now) if self._ramping else w

    def _pick_index(self, now: float) -> int:
        raise NotImplementedError

    # --- public API -------------------------------------------------------------------------
    def pick(self) -> str:
        """The backend for the next request."""
        now = self._now()
        with self._lock:
            return self._backends[self._pick_index(now)].name

    @property
    def nodes(self) -> list[str]:
        """Every node (primaries and backups), in insertion order."""
        with self._lock:
            return [b.name for b in self._backends]

    @property
    def weights(self) -> dict[str, float]:
        """Node name → configured weight."""
        with self._lock:
            return {b.name: b.weight for b in self._backends}

    @property
    def backups(self) -> list[str]:
        """The backup nodes."""
        with self._lock:
            return [b.name for b in self._backends if b.backup]

    @property
    def mode(self) -> str:
        """What picks choose from now: "normal", "backup", "panic" or "empty"."""
        now = self._now()
        with self._lock:
            with contextlib.suppress(NoAvailableBackendError):
                self._ready(now)
            return self._mode

    def add_node(self, name: str, weight: float = 1.0, *, backup: bool = False) -> None:
        """Add a node (up, slow-starting if slow start is on)."""
        name = node_name(name)
        weight = weight_value(name, weight)
        now = self._now()
        with self._lock:
            self._add(name, weight, backup, now, now)

    def remove_node(self, name: str) -> None:
        """Remove a node."""
        name = node_name(name)
        with self._lock:
            pos = self._position(name)
            self._changing()
            del self._backends[pos]
            self._reindex()

    def set_weight(self, name: str, weight: float) -> None:
        """Change a node's configured weight."""
        name = node_name(name)
        weight = weight_value(name, weight)
        with self._lock:
            self._changing()
            pos = self._position(name)
            _check_weight(name, weight)
            self._backends[pos].weight = weight

    def weight_factor(self, name: str) -> float:
        """A node's health weight factor."""
        name = node_name(name)
        with self._lock:
            return self._backends[self._position(name)].factor

    def set_weight_factor(self, name: str, factor: float) -> None:
        """Scale a node's weight by ``factor`` (> 0)."""
        name = node_name(name)
        factor = number(f"weight factor of node {quoted(name)}", factor)
        with self._lock:
            self._changing()
            pos = self._position(name)
            _check_factor(name, factor)
            self._backends[pos].factor = factor

    def _set_health(self, name: str, health: str) -> None:
        name = node_name(name)
        now = self._now()
        with self._lock:
            self._changing()
            b = self._backends[self._position(name)]
            if health == UP and b.health == DOWN and self._slow_start > 0.0:
                b.up_since = now
            elif health != UP:
                b.up_since = None
            b.health = health

    def mark_down(self, name: str) -> None:
        """Take a node out of rotation at once."""
        self._set_health(name, DOWN)

    def mark_up(self, name: str) -> None:
        """Put a node back (slow start applies when it was down)."""
        self._set_health(name, UP)

    def drain(self, name: str) -> None:
        """Stop giving a node new requests."""
        self._set_health(name, DRAINING)

    def state(self, name: str) -> str:
        """A node's state: "up", "down" or "draining"."""
        name = node_name(name)
        with self._lock:
            return self._backends[self._position(name)].health

    def __len__(self) -> int:
        return len(self._backends)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._index

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self._backends)} nodes)"

    def to_state(self) -> dict[str, Any]:
        """The versioned plain-data state (the same dict the Rust class writes)."""
        with self._lock:
            self._changing()
            backends = [
                {
                    "name": b.name,
                    "weight": b.weight,
                    "backup": b.backup,
                    "state": b.health,
                    "factor": b.factor,
                    "load": b.load,
                    "current": b.current,
                }
                for b in self._backends
            ]
            rng = getattr(self, "_rng", None)
            return {
                "version": STATE_VERSION,
                "class": type(self).__name__,
                "settings": dict(self._settings),
                "backends": backends,
                "rng": list(rng.s) if rng is not None else None,
            }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> Any:
        """Rebuild a balancer from ``to_state()`` output."""
        if not isinstance(state, dict):
            raise TypeError("state must be a dict made by to_state()")
        for key in ("version", "class"):
            if key not in state:
                raise ConfigurationError(f"state has no {key!r} entry")
            if key == "version" and state["version"] != STATE_VERSION:
                raise ConfigurationError(
                    f"unsupported state version {state['version']} (this build reads {STATE_VERSION})"
                )
        if state["class"] != cls.__name__:
            raise ConfigurationError(f"state is for {state['class']}, not {cls.__name__}")
        for key in ("settings", "backends", "rng"):
            if key not in state:
                raise ConfigurationError(f"state has no {key!r} entry")
        if not isinstance(state["settings"], dict):
            raise TypeError("state settings must be a dict")
        obj = cls(**state["settings"])
        backends: list[_Backend] = []
        for item in state["backends"]:
            b = _Backend(
                str(item["name"]), float(item["weight"]), bool(item["backup"]), 0, 0.0, obj._initial_ewma()
            )
            if item["state"] not in (UP, DOWN, DRAINING):
                raise ConfigurationError(
                    f'state of node {quoted(b.name)} is {item["state"]!r}, not "up", "down" or "draining"'
                )
            b.health = item["state"]
            b.factor = float(item["factor"])
            b.load = float(item["load"])
            b.load_mult = max(1.0 - b.load, obj._min_share)
            b.current = float(item["current"])
            backends.append(b)
        seen: set[str] = set()
        for b in backends:
            _check_weight(b.name, b.weight)
            _check_factor(b.name, b.factor)
            if b.name in seen:
                raise ConfigurationError(f"duplicate node name {quoted(b.name)}")
            seen.add(b.name)
        for b in backends:
            b.id = obj._next_id
            obj._next_id += 1
        obj._backends = backends
        obj._reindex()
        rng: Rng | None = getattr(obj, "_rng", None)
        if state["rng"] is not None and rng is not None:
            rng.s = [int(x) & _MASK for x in state["rng"]] if any(state["rng"]) else Rng(0).s
        return obj

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:
        return from_state, (self.to_state(),)


class RoundRobin(_Balancer):
    """Smooth weighted round robin, pick for pick as nginx."""

    def _algorithm(self, settings: dict[str, Any], kept: dict[str, Any]) -> bool:
        self._cur: list[float] = []
        return False

    def _rebuild(self) -> None:
        self._cur = [self._backends[i].current for i in self._members]

    def _flush(self) -> None:
        for k, i in enumerate(self._members):
            if k < len(self._cur):
                self._backends[i].current = self._cur[k]

    def _pick_index(self, now: float) -> int:
        self._ready(now)
        cur = self._cur
        if self._ramping:
            total = 0.0
            for k in range(len(cur)):
                w = self._member_weight(k, now)
                cur[k] += w
                total += w
        else:
            for k, w in enumerate(self._base):
                cur[k] += w
            total = self._total
        best = 0
        best_value = cur[0]
        for k in range(1, len(cur)):
            if cur[k] > best_value:
                best, best_value = k, cur[k]
        cur[best] -= total
        return self._members[best]


def build_alias(weights: list[float], total: float) -> list[tuple[int, int]]:
    """Vose's alias table, ``(threshold, alias)`` per column, exactly as the Rust core."""
    n = len(weights)
    p = [w * n / total for w in weights]
    table = [(_MASK, i) for i in range(n)]
    small = [i for i, pi in enumerate(p) if pi < 1.0]
    large = [i for i, pi in enumerate(p) if pi >= 1.0]
    while small and large:
        small_i = small.pop()
        large_i = large.pop()
        pl = p[small_i]
        table[small_i] = (_MASK if pl >= 1.0 else int(pl * _TWO_64), large_i)
        p[large_i] = (p[large_i] + pl) - 1.0
        (small if p[large_i] < 1.0 else large).append(large_i)
    return table


class WeightedRandom(_Balancer):
    """Weighted random picks in O(1) (Vose alias method), reproducible with ``seed=``."""

    SETTINGS: ClassVar[tuple[str, ...]] = ("seed",)

    def _algorithm(self, settings: dict[str, Any], kept: dict[str, Any]) -> bool:
        self._table: list[tuple[int, int]] = []
        self._rng = Rng(_seed(settings))
        return False

    def _rebuild(self) -> None:
        self._table = build_alias(self._base, self._total)

    def _alias_draw(self, rng: Rng) -> int:
        table = self._table
        x = rng.next_u64() * len(table)
        k = x >> 64
        thr, alias = table[k]
        return k if (x & _MASK) < thr else alias

    def _draw(self, now: float, rng: Rng) -> int:
        members = self._members
        if not self._ramping:
            return members[self._alias_draw(rng)]
        for _ in range(_MAX_THINNING_TRIES):
            k = self._alias_draw(rng)
            r = self._ramp(members[k], now)
            if r >= 1.0 or rng.unit() < r:
                return members[k]
        total = sum(self._member_weight(k, now) for k in range(len(members)))
        x = rng.unit() * total
        acc = 0.0
        for k, i in enumerate(members):
            acc += self._member_weight(k, now)
            if x < acc:
                return i
        return members[-1]

    def _pick_index(self, now: float) -> int:
        self._ready(now)
        return self._draw(now, self._rng)

    def sample(self, n: int) -> npt.NDArray[np.int32]:
        """``n`` random picks at once, as positions in ``nodes``: drawn from the current random
        stream, after which the generator jumps 2**128 draws ahead (as the Rust class)."""
        n = int_param("sample size", n, 0, 2**63 - 1)
        now = self._now()
        out = np.empty(n, dtype=np.int32)  # MemoryError for a size that cannot be allocated
        with self._lock:
            self._ready(now)
            stream = self._rng.split_off()
            out[:] = [self._draw(now, stream) for _ in range(n)]
        return out


class LoadAware(WeightedRandom):
    """Weighted random with weights ``capacity × max(1 − load, min_share)`` from reported load."""

    SETTINGS = ("seed", "min_share")

    def __init__(
        self, capacities: Backends = None, *, backups: Backends = None, **settings: Unpack[LoadAwareSettings]
    ) -> None:
        super().__init__(capacities, backups=backups, **settings)

    def _algorithm(self, settings: dict[str, Any], kept: dict[str, Any]) -> bool:
        kept.setdefault("min_share", DEFAULTS["min_share"])
        return super()._algorithm(settings, kept)

    def report_load(self, node: str, load: float) -> None:
        """Record a node's load (utilisation: 0 = idle, 1 = full; > 1 overloaded)."""
        node = node_name(node)
        load = number(f"load of node {quoted(node)}", load)
        with self._lock:
            self._changing()
            b = self._backends[self._position(node)]
            if not (math.isfinite(load) and load >= 0.0):
                raise ConfigurationError(
                    f"load of node {quoted(node)} must be a finite number >= 0, got {load!r}"
                )
            b.load = load
            b.load_mult = max(1.0 - load, self._min_share)

    def load(self, node: str) -> float:
        """The last load reported for a node (0.0 if none)."""
        node = node_name(node)
        with self._lock:
            return self._backends[self._position(node)].load


class Lease:
    """A held backend; ``release()`` (or leaving a ``with`` block) gives it back once."""

    def __init__(self, owner: _LeaseOwner, node: str, ident: int, hint: int, start: float) -> None:
        self._owner = owner
        self._node = node
        self._id = ident
        self._hint = hint
        self._start = start
        self._released = False

    @property
    def node(self) -> str:
        """The backend this lease holds."""
        return self._node

    @property
    def released(self) -> bool:
        """Whether the lease was released."""
        return self._released

    def release(self, latency: float | None = None) -> None:
        """Give the backend back (idempotent); ``latency`` overrides the measured one."""
        with _RELEASE_LOCK:
            if self._released:
                return
            self._released = True
        self._owner._release_lease(self._id, self._hint, latency, self._start)

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> Literal[False]:
        self.release()
        return False

    def __repr__(self) -> str:
        return f"<Lease {self._node} ({'released' if self._released else 'held'})>"


class _LeaseOwner(_Balancer):
    def _pick_acquire(self, now: float, acquire: bool) -> int:
        raise NotImplementedError

    def _pick_index(self, now: float) -> int:
        return self._pick_acquire(now, False)

    def acquire(self) -> Lease:
        """Take the chosen backend: a :class:`Lease` holding it until released."""
        now = self._now()
        with self._lock:
            i = self._pick_acquire(now, True)
            b = self._backends[i]
            return Lease(self, b.name, b.id, i, now)

    def active(self, node: str) -> int:
        """How many leases on a node are held."""
        node = node_name(node)
        with self._lock:
            return self._backends[self._position(node)].active

    def _release_lease(self, ident: int, hint: int, latency: float | None, start: float) -> None:
        """Give back one lease; released even when the clock fails (then without a latency
        sample), and the clock's error is raised afterwards (as the Rust class)."""
        clock_error: Exception | None = None
        try:
            now = self._now()
        except Exception as exc:
            now, clock_error = start, exc
        if latency is None and self._timed and clock_error is None:
            latency = now - start
        with self._lock:
            bs = self._backends
            if hint < len(bs) and bs[hint].id == ident:
                pos: int | None = hint
            else:
                pos = next((i for i, b in enumerate(bs) if b.id == ident), None)
            if pos is not None:
                b = bs[pos]
                b.active = max(b.active - 1, 0)
                self._on_release(b, latency, now)
        if clock_error is not None:
            raise clock_error


class LeastConnections(_LeaseOwner):
    """Fewest held leases per unit of weight; ties: larger weight, then round robin.

    Score ``active * (1 / weight)`` (lowest wins), scanning the candidates from a cursor that
    moves past each pick; equal scores go to the larger weight, then to the first scanned.
    """

    def _algorithm(self, settings: dict[str, Any], kept: dict[str, Any]) -> bool:
        self._cursor = 0
        return False

    def _rebuild(self) -> None:
        m = len(self._members)
        self._cursor = self._cursor % m if m else 0

    def _pick_acquire(self, now: float, acquire: bool) -> int:
        self._ready(now)
        m = len(self._members)
        best = k = self._cursor
        best_score = math.inf
        best_weight = 0.0
        for _ in range(m):
            w = self._member_weight(k, now)
            score = self._backends[self._members[k]].active * (1.0 / w)
            if score < best_score or (score == best_score and w > best_weight):
                best, best_score, best_weight = k, score, w
            k += 1
            if k == m:
                k = 0
        self._cursor = 0 if best + 1 == m else best + 1
        i = self._members[best]
        if acquire:
            self._backends[i].active += 1
        return i


class PowerOfTwo(_LeaseOwner):
    """Power of two choices on held leases, optionally weighted by peak-EWMA latency."""

    SETTINGS = ("seed", "peak_ewma", "decay", "default_rtt")

    def _algorithm(self, settings: dict[str, Any], kept: dict[str, Any]) -> bool:
        self._rng = Rng(_seed(settings))
        self._ewma = bool(settings.get("peak_ewma", False))
        kept["peak_ewma"] = self._ewma
        self._decay = decay = number("decay", settings.get("decay", DEFAULTS["decay"]))
        self._default_rtt = rtt = number("default_rtt", settings.get("default_rtt", DEFAULTS["default_rtt"]))
        kept["decay"], kept["default_rtt"] = decay, rtt
        if self._ewma:
            if not (math.isfinite(decay) and decay > 0.0):
                raise ConfigurationError(f"decay must be a finite number of seconds > 0, got {decay!r}")
            if not (math.isfinite(rtt) and rtt >= 0.0):
                raise ConfigurationError(f"default_rtt must be a finite number of seconds >= 0, got {rtt!r}")
        return self._ewma

    def _initial_ewma(self) -> float:
        return self._default_rtt if self._ewma else 0.0

    def _on_release(self, b: _Backend, latency: float | None, now: float) -> None:
        if self._ewma and latency is not None and math.isfinite(latency) and latency >= 0.0:
            w = math.exp(-max(now - b.stamp, 0.0) / self._decay)
            b.ewma = latency if latency > b.ewma else b.ewma * w + latency * (1.0 - w)
            b.stamp = now

    def _cost(self, k: int, now: float) -> float:
        b = self._backends[self._members[k]]
        if self._ewma:
            decayed = b.ewma * math.exp(-max(now - b.stamp, 0.0) / self._decay)
            load = decayed * (b.active + 1.0)
        else:
            load = float(b.active)
        return load / self._member_weight(k, now)

    def _pick_acquire(self, now: float, acquire: bool) -> int:
        self._ready(now)
        m = len(self._members)
        if m == 1:
            k = 0
        else:
            a = self._rng.below(m)
            b = self._rng.below(m - 1)
            if b >= a:
                b += 1
            k = b if self._cost(b, now) < self._cost(a, now) else a
        i = self._members[k]
        if acquire:
            self._backends[i].active += 1
        return i


#: Class name -> twin balancer, in the order of the Rust registry (``shardwise._core.BALANCERS``).
CLASSES: dict[str, type[_Balancer]] = {cls.__name__: globals()[cls.__name__] for cls in BALANCERS}

__all__ = ["Lease", "Rng", "Sticky", "from_state", *CLASSES]


def from_state(state: dict[str, Any]) -> Any:
    """Rebuild a twin balancer (or a :class:`Sticky`) from ``to_state()`` output."""
    return restore(state, CLASSES)
