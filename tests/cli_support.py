"""Helpers for the command-line tests: run ``python -m shardwise`` as a user would, check PNGs."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), env.get("PYTHONPATH", "")) if p)
    env.pop("SHARDWISE_DEBUG", None)
    env.update(extra)
    return env


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 120, **popen: object
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m shardwise ARGS`` and capture its output."""
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "shardwise", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=cli_env(),
        **popen,
    )


def popen_cli(*args: str, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "shardwise", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
        **popen,
    )


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk; fails the test if the file is not a PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13, f"{path}: first chunk is {kind!r}, not IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert data[-8:-4] == b"IEND", f"{path}: no IEND chunk (truncated PNG)"
    return width, height


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """Non-zero exit, exactly one line on stderr, no traceback, mentioning each needle."""
    assert result.returncode != 0, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"expected one stderr line, got:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle.lower() in lines[0].lower(), f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def process_start(pid: int) -> int | None:
    """The start time of a live (not zombie) process, from /proc; None if it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return None
    fields = data[data.rfind(b")") + 2 :].split()
    return None if fields[0] in (b"Z", b"X") else int(fields[19])


def live_processes(pids: dict[int, int], group: int) -> list[int]:
    """Those of ``pids`` (pid -> start time) still running, plus any live process in ``group``."""
    left = [pid for pid, start in pids.items() if process_start(pid) == start]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                data = (entry / "stat").read_bytes()
            except OSError:
                continue
            fields = data[data.rfind(b")") + 2 :].split()
            if int(fields[2]) == group and fields[0] not in (b"Z", b"X"):
                left.append(int(entry.name))
    return sorted(set(left))
