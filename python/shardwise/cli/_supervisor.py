"""The process between ``shardwise lock`` and its command. Run as a script; standard library only.

It starts the command in a new process group and, on Linux, is a child subreaper and sets the
command's parent-death signal: every process the command starts stays below this one (even one
that escaped to a new session) and can be found in /proc and killed. From the wrapper it reads
signal numbers on the control pipe and sends each to the command's whole tree (any but SIGINT is
followed by SIGKILL after the grace period); when that pipe closes (the wrapper died, even by
SIGKILL) it kills the whole tree at once. When the command exits, what it left running gets
SIGTERM, then SIGKILL after the grace period. It writes ``started PID``, ``failed CODE MESSAGE``
and finally ``exited RETURNCODE`` on the report pipe, the last only once no process of the tree
is left.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from types import FrameType

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
TICK = 0.05


def linux_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None
    return prctl


def proc_stat(pid: int) -> tuple[str, int, int, int] | None:
    """(state, parent pid, process group, start time) from /proc; None if the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            data = handle.read()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()  # the command name may hold spaces and ')'
    return fields[0].decode(), int(fields[1]), int(fields[2]), int(fields[19])


class Tree:
    """The processes of the command: below ``root`` (this process) or in process group ``group``."""

    def __init__(self, root: int, group: int) -> None:
        self.root = root
        self.group = group
        self.procfs = os.path.isdir("/proc/self")

    def live(self) -> dict[int, int]:
        """pid -> start time of every process of the tree that is not a zombie (Linux only)."""
        if not self.procfs:
            return {}
        table = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                stat = proc_stat(int(name))
                if stat is not None and stat[0] not in ("Z", "X"):
                    table[int(name)] = stat
        children: dict[int, list[int]] = {}
        for pid, stat in table.items():
            children.setdefault(stat[1], []).append(pid)
        below: set[int] = set()
        stack = [self.root]
        while stack:
            fresh = [pid for pid in children.get(stack.pop(), ()) if pid not in below]
            below.update(fresh)
            stack.extend(fresh)
        below.update(pid for pid, stat in table.items() if stat[2] == self.group)
        below.discard(self.root)
        return {pid: table[pid][3] for pid in below}

    def alive(self) -> bool:
        if self.procfs:
            return bool(self.live())
        try:
            os.killpg(self.group, 0)
        except ProcessLookupError:
            return False
        except OSError:
            return True
        return True

    def signal(self, signum: int) -> None:
        with contextlib.suppress(OSError):
            os.killpg(self.group, signum)
        for pid, start in self.live().items():
            send(pid, start, signum)


def send(pid: int, start: int, signum: int) -> None:
    """Signal ``pid`` only if it is still the process that started at ``start`` (no pid reuse)."""
    try:
        handle = os.pidfd_open(pid)
    except (AttributeError, OSError):
        with contextlib.suppress(OSError):
            os.kill(pid, signum)
        return
    try:
        stat = proc_stat(pid)
        if stat is not None and stat[3] == start:
            signal.pidfd_send_signal(handle, signum)
    except OSError:
        pass
    finally:
        os.close(handle)


def prepare_child(parent: int, prctl: Callable[..., int] | None, terminal: int | None) -> None:
    """In the command's process before exec: own group, the terminal, death with the supervisor."""
    os.setpgid(0, 0)
    if terminal is not None:
        previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
        with contextlib.suppress(OSError):
            os.tcsetpgrp(terminal, os.getpid())
        signal.signal(signal.SIGTTOU, previous)
    if prctl is not None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the supervisor died before prctl ran
            os.kill(os.getpid(), signal.SIGKILL)


class Supervisor:
    def __init__(self, control: int, report: int, grace: float) -> None:
        self.control: int | None = control
        self.report = report
        self.grace = grace
        self.pending: list[int] = []
        self.status: int | None = None
        self.kill_at: float | None = None

    def say(self, line: str) -> None:
        with contextlib.suppress(OSError):
            os.write(self.report, (line + "\n").encode())

    def on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.pending.append(signum)

    def read_control(self, timeout: float) -> None:
        if self.control is None:
            time.sleep(timeout)
            return
        with contextlib.suppress(InterruptedError):
            if not select.select([self.control], [], [], timeout)[0]:
                return
        try:
            data = os.read(self.control, 64)
        except BlockingIOError:
            return
        if not data:  # the wrapper is gone: nothing holds the lock for us any more
            os.close(self.control)
            self.control = None
            self.pending.append(signal.SIGKILL)
        self.pending.extend(data)

    def reap(self, command: int) -> None:
        while True:
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == command:
                self.status = os.waitstatus_to_exitcode(wait_status)

    def run(self, command: list[str], terminal: int | None) -> int:
        me = os.getpid()
        prctl = linux_prctl()
        if prctl is not None:
            prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        for handled in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(handled, self.on_signal)
        self.read_control(0)
        if self.control is None:
            return 0  # the wrapper died before the command started
        try:
            child = subprocess.Popen(command, preexec_fn=lambda: prepare_child(me, prctl, terminal))
        except OSError as exc:
            code = 127 if isinstance(exc, FileNotFoundError) else 126
            self.say(f"failed {code} {exc.strerror or exc}")
            return 0
        self.say(f"started {child.pid}")
        tree = Tree(me, child.pid)
        while True:
            self.reap(child.pid)
            while self.pending:
                signum = self.pending.pop(0)
                tree.signal(signum)
                if signum != signal.SIGINT and self.kill_at is None:
                    self.kill_at = time.monotonic() + (0 if signum == signal.SIGKILL else self.grace)
            if self.status is not None and self.kill_at is None and tree.alive():
                tree.signal(signal.SIGTERM)  # what the command left behind
                self.kill_at = time.monotonic() + self.grace
            if self.kill_at is not None and time.monotonic() >= self.kill_at:
                tree.signal(signal.SIGKILL)
            if self.status is not None and not tree.alive():
                break
            self.read_control(TICK)
        child.returncode = self.status
        self.reap(child.pid)
        self.say(f"exited {self.status}")
        return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="shardwise-lock-supervisor")
    parser.add_argument("--control", type=int, required=True)
    parser.add_argument("--report", type=int, required=True)
    parser.add_argument("--grace", type=float, required=True)
    parser.add_argument("--terminal", action="store_true")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    os.setpgid(0, 0)  # signals meant for the wrapper's group do not reach this process
    terminal = None
    if args.terminal:
        with contextlib.suppress(OSError):
            terminal = os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    return Supervisor(args.control, args.report, args.grace).run(command, terminal)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
