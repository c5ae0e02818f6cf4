"""End-to-end contract for bad input: every corpus case, run through the real CLI in its own process.

Each case must end with a non-zero exit status and exactly one stderr line that names the file, tensor,
key or option at fault; no traceback; every input byte-identical afterwards; nothing new on disk (no
output, no temp file) and no half-written entry in the base index.
"""

from __future__ import annotations

import hashlib
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from bad_inputs.cases import CASES, Ctx
from bad_inputs.forkserver import ForkServer
from reliability.verify import entry_problems, leftover_tmp


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple]:
    """Every path under `root` but `skip`: files by size and SHA-256, links by target, folders by name."""
    found: dict[str, tuple] = {}
    for path in sorted(root.rglob("*")):
        if skip is not None and path.is_relative_to(skip):
            continue
        if path.is_symlink():
            found[str(path)] = ("link", os.readlink(path))
        elif path.is_file():
            found[str(path)] = ("file", path.stat().st_size, hashlib.sha256(path.read_bytes()).hexdigest())
        else:
            found[str(path)] = ("dir",)
    return found


def cli_env(cache: Path) -> dict[str, str]:
    """The child's environment: one thread, an isolated default cache, no hub, no line wrapping."""
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "LORASCOPE_CACHE": str(cache),
            "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "COLUMNS": "400", "PYTHONDONTWRITEBYTECODE": "1"}


def run_cli(args: list[str], cache: Path, fsize: int | None = None, timeout: float = 300
            ) -> subprocess.CompletedProcess:
    """`python -m lorascope.cli ARGS` in a fresh interpreter (optionally with a file-size limit)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return subprocess.run([sys.executable, "-m", "lorascope.cli", *args], capture_output=True, text=True,
                          env=cli_env(cache), preexec_fn=limit if fsize is not None else None, timeout=timeout)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """One fork server for the corpus (each case still runs in its own forked process)."""
    running = ForkServer(cli_env(tmp_path_factory.mktemp("unused-cache")))
    yield running
    running.close()


def no_partial_index_entry(cache: Path) -> None:
    """The index holds no temp folder, and every entry in it reads back verified."""
    assert leftover_tmp(cache) == []
    assert entry_problems(cache) == []


def test_corpus_has_at_least_30_cases():
    assert len(CASES) >= 30
    assert len({c.__name__ for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_bad_input_fails_cleanly(case, originals, tmp_path, server):
    cache = tmp_path / "default-cache"
    ctx = Ctx(originals, tmp_path / "inputs", tmp_path / "outputs", cache)
    ctx.inputs.mkdir()
    ctx.outputs.mkdir()
    call = case(ctx)
    before = snapshot(tmp_path, skip=cache)
    originals_before = snapshot(originals.base.parent)
    done = server.run(call.args, {"LORASCOPE_CACHE": str(cache)}, call.fsize)

    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert done.returncode != 0, f"exit 0 for bad input; stdout: {done.stdout[-500:]}"
    assert "Traceback" not in done.stderr, done.stderr
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{done.stderr}"
    assert lines[0].startswith("lorascope: error: "), lines[0]
    for needle in call.needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    assert snapshot(tmp_path, skip=cache) == before, "inputs changed or output/temp files were left behind"
    assert snapshot(originals.base.parent) == originals_before
    no_partial_index_entry(cache)
    if call.after is not None:
        call.after(ctx)


@pytest.mark.parametrize("case", [c for c in CASES if c.__name__ in
                                  ("truncated_header", "pickle_with_code", "scale_disk_full", "train_unknown_task")])
def test_forkserver_matches_a_fresh_interpreter(case, originals, tmp_path, server):
    """The same case through `python -m lorascope.cli` and through the fork server: same status, same stderr."""
    cache = tmp_path / "default-cache"
    ctx = Ctx(originals, tmp_path / "inputs", tmp_path / "outputs", cache)
    ctx.inputs.mkdir()
    ctx.outputs.mkdir()
    call = case(ctx)
    forked = server.run(call.args, {"LORASCOPE_CACHE": str(cache)}, call.fsize)
    fresh = run_cli(call.args, cache, call.fsize)
    assert (forked.returncode, forked.stderr) == (fresh.returncode, fresh.stderr)
    assert fresh.returncode != 0
