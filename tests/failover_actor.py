"""One monitor process of a coordinated failover set (run by test_failover_leader.py).

It monitors three Redis nodes, joins the leader election on the coordination server and, when
leader, promotes replicas. Every executed promotion is appended to ``<prefix>:executed`` on the
coordination server; every election to ``<prefix>:leaders``. Commands on stdin:
``act NEW TOKEN`` tries a promotion of NEW with the given (possibly stale) token and prints
``ok`` or ``rejected <error class>``; ``primary`` prints ``primary NAME PORT``: the group's primary
and the port of its resource (client), as this process sees them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

import redis
from shardwise import (
    Coordinator,
    FailoverGroup,
    FencingTokenError,
    Monitor,
    Promotion,
    RedisCheck,
    RedisPromoter,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--id", required=True)
    parser.add_argument("--coord", type=int, required=True)
    parser.add_argument("--ports", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--ttl", type=float, default=1.5)
    parser.add_argument("--interval", type=float, default=0.2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format=f"[{args.id}] %(message)s")

    coord_client = redis.Redis(host="127.0.0.1", port=args.coord, socket_timeout=1.0)
    coordinator = Coordinator(
        coord_client, args.name, ttl=args.ttl, retry_interval=args.interval, identity=args.id
    )
    prefix = coordinator.prefix
    names = ["r1", "r2", "r3"]
    ports = [int(p) for p in args.ports.split(",")]
    clients = {n: redis.Redis(host="127.0.0.1", port=p) for n, p in zip(names, ports, strict=True)}
    redis_promoter = RedisPromoter(clients, timeout=1.0)

    def promote(promotion: Promotion) -> None:
        redis_promoter(promotion)
        change = f"{promotion.old_primary}>{promotion.new_primary}"
        coord_client.rpush(f"{prefix}:executed", f"{args.id} {promotion.token} {change}")

    promote.rejoin = redis_promoter.rejoin  # type: ignore[attr-defined]
    group: FailoverGroup[redis.Redis] = FailoverGroup(
        "r1", ["r2", "r3"], promote=promote, coordinator=coordinator, resources=clients
    )
    def on_election(leader: bool) -> None:
        if leader:
            coord_client.rpush(f"{prefix}:leaders", f"{args.id} {coordinator.token} {os.getpid()}")

    coordinator.add_election_listener(on_election)
    monitor = Monitor(interval=0.1, timeout=0.3, rise=2, fall=2)
    for name in names:
        monitor.add_node(name, RedisCheck(clients[name]))
    monitor.attach(group)
    monitor.attach(coordinator)
    with monitor, coordinator:
        print("ready", flush=True)
        for line in sys.stdin:
            parts = line.split()
            if parts[:1] == ["act"]:
                new, token = parts[1], int(parts[2])
                try:
                    group._promote(new, "late action", token)
                    print("ok", flush=True)
                except FencingTokenError as error:
                    print(f"rejected FencingTokenError {error}", flush=True)
            elif parts[:1] == ["primary"]:
                port = group.resource.connection_pool.connection_kwargs["port"]
                print(f"primary {group.primary} {port}", flush=True)
            elif parts[:1] == ["quit"]:
                break


if __name__ == "__main__":
    main()
