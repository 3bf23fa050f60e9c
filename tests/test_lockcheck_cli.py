"""``shardwise lockcheck`` as a user runs it: exit codes, the JSON report, the side-by-side table,
the Porcupine history dump, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from cli_support import assert_one_line_error, cli_env, run_cli

pytestmark = pytest.mark.redis


def test_a_lock_that_claims_safety_and_fails_exits_5_with_a_json_report(tmp_path: Path) -> None:
    history = tmp_path / "history.json"
    result = run_cli(
        "lockcheck", "--lock", "lockcheck_locks:DELETE_BLIND,naive", "--duration", "4", "--ttl", "0.3",
        "--faults", "pause-client", "--seed", "cli", "--json", "--history", str(history),
    )  # fmt: skip
    assert result.returncode == 5, result.stderr
    report = json.loads(result.stdout)
    assert report["exit_code"] == 5 and report["seed"] == "cli"
    blind, naive = report["runs"]
    assert blind["lock"] == "delete-blind" and blind["claims_safety"] and blind["verdict"] == "FAIL"
    assert blind["violations"]["double-grant"] > 0 and blind["findings"]  # its release deleted a rival's key
    assert naive["lock"] == "naive" and not naive["claims_safety"] and naive["verdict"] == "unsafe"
    assert naive["counter"]["lost_updates"] > 0
    assert naive["config"]["faults"] == ["pause-client"] and naive["faults"]["injected"] > 0
    for name in ("history-lockcheck_locks_DELETE_BLIND.json", "history-naive.json"):
        ops = json.loads((tmp_path / name).read_text())
        assert ops and {"ClientId", "Input", "Call", "Output", "Return"} == set(ops[0])
        assert {op["Input"]["op"] for op in ops} >= {"acquire", "incr", "release"}
        assert all(op["Return"] >= op["Call"] for op in ops)
    assert "naive: unsafe" in result.stderr  # progress lines go to stderr


def test_text_report_ends_with_the_side_by_side_verdict() -> None:
    result = run_cli("lockcheck", "--lock", "naive", "--duration", "2", "--faults", "none", "-q")
    assert result.returncode == 0, result.stderr  # naive claims no safety: its violations are no failure
    assert result.stderr == ""
    assert "== naive: unsafe" in result.stdout
    table = result.stdout.strip().splitlines()[-3:]
    assert table[0].split()[:3] == ["lock", "claims", "acq"] and table[0].split()[-1] == "verdict"
    assert table[2].split()[0] == "naive" and table[2].split()[-1] == "unsafe"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--lock", "mutex"], "unknown lock 'mutex'"),
        (["--lock", "naive,naive"], "listed twice"),
        (["--faults", "flood"], "unknown fault 'flood'"),
        (["--clients", "1"], "clients must be"),
        (["--ttl", "0.001"], "ttl must be between"),
        (["--history", "/no/such/dir/h.json"], "does not exist"),
    ],
)
def test_bad_options_exit_2_with_one_line(args: list[str], needle: str) -> None:
    result = run_cli("lockcheck", *args)
    assert result.returncode == 2
    assert_one_line_error(result, needle)


def test_missing_redis_server_is_one_clear_line(tmp_path: Path) -> None:
    env = cli_env(PATH=str(tmp_path))  # nothing on PATH, not even redis-server
    result = subprocess.run(
        [sys.executable, "-m", "shardwise", "lockcheck", "--lock", "naive"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 1
    assert_one_line_error(result, "redis-server is not on PATH")


def test_help_documents_the_exit_codes() -> None:
    result = run_cli("lockcheck", "--help")
    assert result.returncode == 0
    assert "exit status" in result.stdout and "5 when one did" in result.stdout.replace("\n", " ")
    assert "lockcheck" in run_cli("--help").stdout  # registered with the other subcommands
