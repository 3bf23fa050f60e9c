"""``import shardwise`` stays light: redis-py, asyncio and numpy load only when a feature needs them."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import shardwise

PACKAGE = Path(shardwise.__file__).resolve().parent


def _loaded_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(sorted(sys.modules)))"
    env_path = str(PACKAGE.parent)
    out = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": env_path, "PATH": "/usr/bin:/bin"},
    )
    return set(out.stdout.split())


def test_import_shardwise_loads_neither_redis_nor_asyncio_nor_numpy() -> None:
    loaded = _loaded_after("import shardwise, shardwise.errors, shardwise.lock, shardwise.failover")
    assert "shardwise" in loaded
    heavy = {m for m in loaded if m.split(".")[0] in {"redis", "asyncio", "numpy"}}
    assert heavy == set(), sorted(heavy)


def test_features_still_load_what_they_need() -> None:
    loaded = _loaded_after("import shardwise; shardwise.RedisLock; shardwise.HashRing(['a']).place([1, 2])")
    assert {"redis", "numpy"} <= loaded


@pytest.mark.parametrize("module", ["shardwise.lock", "shardwise.failover", "shardwise.errors"])
def test_lazy_names_match_what_type_checkers_see(module: str) -> None:
    """The ``TYPE_CHECKING`` imports (what mypy sees) name exactly the lazily exported names."""
    mod = importlib.import_module(module)
    tree = ast.parse(Path(mod.__file__ or "").read_text())
    seen: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for stmt in node.body:
                if isinstance(stmt, ast.ImportFrom):
                    seen.update(alias.asname or alias.name for alias in stmt.names)
    lazy = set(getattr(mod, "_EXPORTS", None) or mod._LOCK_ERRORS)
    assert seen == lazy
    assert lazy <= set(mod.__all__)
    for name in lazy:
        assert getattr(mod, name) is not None, name


def test_top_level_exports_resolve() -> None:
    for name in shardwise.__all__:
        assert getattr(shardwise, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'NoSuchThing'"):
        shardwise.NoSuchThing  # noqa: B018
