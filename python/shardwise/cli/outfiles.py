"""Writing output files safely: never over an input, never half-written under the final name."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from shardwise.cli._common import CliError, UsageError


def same_or_inside(output: Path, source: Path) -> bool:
    """Whether writing ``output`` would write over ``source``: the same path once symlinks are
    resolved, a path inside it, or another name (hard link, bind mount) of the same file."""
    real_out, real_src = Path(os.path.realpath(output)), Path(os.path.realpath(source))
    if real_out == real_src or real_out.is_relative_to(real_src):
        return True
    try:
        return os.path.samefile(output, source)
    except OSError:  # one of them does not exist (yet): they cannot be the same file
        return False


def refuse_inputs(option: str, outputs: Iterable[Path], inputs: Iterable[tuple[str, Path]]) -> None:
    """Raise a UsageError, before anything is written, if an output would overwrite an input.
    ``inputs`` are (what, path) pairs such as ("key file", Path("keys.txt"))."""
    sources = list(inputs)
    for output in outputs:
        for what, source in sources:
            if same_or_inside(output, source):
                raise UsageError(
                    f"{option} {str(output)!r} is the {what} {str(source)!r}; writing it would destroy "
                    "the input: choose another output"
                )


def output_dir(option: str, out: Path) -> None:
    """Create the output directory ``out`` now, before any long work, or raise the one-line
    error that writing there would raise at the end."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"{option}: cannot write to {str(out)!r}: {exc.strerror or exc}") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise CliError(f"{option}: cannot write to {str(out)!r}: permission denied")


def node_file(nodes: str) -> list[tuple[str, Path]]:
    """The node file of a ``--nodes @FILE`` option, as an input for :func:`refuse_inputs`."""
    nodes = nodes.strip()
    return [("node file", Path(nodes[1:]))] if nodes.startswith("@") else []


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path`` (os.replace),
    on any error or interruption it is removed, so ``path`` is never left half-written."""
    directory = path.parent
    if not directory.is_dir():
        raise CliError(f"cannot write {str(path)!r}: directory {str(directory)!r} does not exist")
    try:
        handle, name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    except OSError as exc:
        raise CliError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it 0600; give it a normal file's mode
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
