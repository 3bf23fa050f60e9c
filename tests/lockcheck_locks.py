"""Deliberately broken locks for the lockcheck tests (importable by the spawned client processes)."""

from __future__ import annotations

import secrets

from shardwise.testing import BUILTIN_LOCKS, LockKind, LockSetup, LockUnderTest


class DeleteBlindLock:
    """SET NX PX with a random token, but release is a plain DEL: a holder whose lock expired
    deletes the next holder's lock. It never notices anything and claims to be safe."""

    def __init__(self, setup: LockSetup) -> None:
        self.client = setup.clients[0]
        self.key = f"lockcheck:blind:{setup.name}"
        self.ttl_ms = max(1, round(setup.ttl * 1000))

    def acquire(self, wait: float) -> bool:
        import time

        deadline = time.monotonic() + wait
        while True:
            if self.client.set(self.key, secrets.token_hex(8), nx=True, px=self.ttl_ms):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)

    def release(self) -> bool:
        self.client.delete(self.key)  # the bug: no check that the key is still ours
        return True

    def token(self) -> int | None:
        return None

    def still_held(self) -> bool:
        return True


DELETE_BLIND = LockKind(
    "delete-blind", DeleteBlindLock, claims_safety=True, key=lambda name: f"lockcheck:blind:{name}"
)
NOT_A_KIND = "not a LockKind"


def _shardwise_unfenced(setup: LockSetup) -> LockUnderTest:
    from shardwise.testing.locks import ShardwiseLock

    return ShardwiseLock(setup, redlock=False)


# RedisLock exactly as the built-in `shardwise`, but its writes carry no fencing token: what the
# lock alone (watchdog, on_lost, check()) can and cannot prevent.
SHARDWISE_UNFENCED = LockKind(
    "shardwise-unfenced",
    _shardwise_unfenced,
    key=BUILTIN_LOCKS["shardwise"].key,
)
