"""`index`: compute, once per base model, the spectrum (U, S) of every matrix a scan uses, and keep it on disk.

Which matrices: those a checkpoint scan analyses by default (linear-layer weights, no embeddings or heads),
or as --include/--exclude say, each in the orientation the scan analyses it. A scan of an adapter that
also adapts embeddings builds those entries on the fly. Entries already present are verified and kept, so
a rerun after an interruption resumes; `full_hash` also compares each matrix's SHA-256 with the entry's.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import torch

from lorascope._version import __version__
from lorascope.errors import InputError, ResourceError
from lorascope.index import (
    EntryRead,
    TensorKey,
    clean_tmp,
    index_layout,
    obtain,
    read_entry,
    resolve_device,
    run_ordered,
    tensor_key,
    torch_threads,
)
from lorascope.index.parallel import check_workers
from lorascope.memory import check_dense, memory_hint
from lorascope.weights import open_checkpoint
from lorascope.weights.conv1d import stored_transposed
from lorascope.weights.names import is_matrix
from lorascope.weights.selection import Selection
from lorascope.weights.source import resolve_source
from lorascope.weights.store import TensorStore


@dataclass(frozen=True)
class IndexOptions:
    """Options of `index`; every field is also a `lorascope index` flag of the same name."""

    include: tuple[str, ...] = field(default=(), metadata={"help": "regexes: index only matching tensors"})
    exclude: tuple[str, ...] = field(default=(), metadata={"help": "regexes: skip matching tensors"})
    full_hash: bool = field(default=False, metadata={
        "help": "also check each entry against the SHA-256 of its whole matrix; rebuild on mismatch"})
    workers: int = field(default=1, metadata={"help": "matrices decomposed in parallel (threads)"})
    device: str = field(default="cpu", metadata={"help": "where the solves run: cpu, cuda, cuda:N or auto"})
    cache_dir: str | Path | None = field(
        default=None, metadata={"help": "index location (default $LORASCOPE_CACHE, else the user cache dir)"})
    allow_pickle: bool = field(default=False, metadata={"help": "read .bin/.pt with torch.load(weights_only=True)"})

    def __post_init__(self) -> None:
        check_workers(self.workers)


@dataclass(frozen=True)
class IndexedMatrix:
    """One base matrix: its entry and what happened to it ("hit", "built" or "rebuilt", and why)."""

    name: str
    shape: tuple[int, int]
    digest: str
    status: str
    replaced: str | None = None


@dataclass(frozen=True)
class IndexReport:
    """What `build_index` did, matrix by matrix."""

    base: str
    root: Path
    matrices: list[IndexedMatrix]
    skipped: list[tuple[str, str]]
    seconds: float

    def count(self, status: str) -> int:
        """How many matrices ended with `status`."""
        return sum(m.status == status for m in self.matrices)

    def entry_bytes(self) -> int:
        """Bytes on disk of this base's entries."""
        total = 0
        for m in self.matrices:
            folder = self.root / m.digest[:2] / m.digest
            with contextlib.suppress(OSError):
                total += sum(f.stat().st_size for f in folder.iterdir())
        return total


@dataclass(frozen=True)
class _Target:
    name: str
    transposed: bool


@dataclass(frozen=True)
class _Read:
    target: _Target
    W0: torch.Tensor
    key: TensorKey
    found: EntryRead


def index_targets(store: TensorStore, selection: Selection) -> tuple[list[_Target], list[tuple[str, str]]]:
    """The matrices of BASE a default checkpoint scan analyses (with their orientation), and the rest with why."""
    targets, skipped = [], []
    for name in store:
        info = store.info(name)
        if not is_matrix(info):
            continue
        reason = selection.skip_reason(name)
        if reason:
            skipped.append((name, reason))
        else:
            targets.append(_Target(name, stored_transposed(name, store.config)))
    return targets, skipped


def build_index(base: str | Path, options: IndexOptions | None = None, *,
                progress: Callable[[int, int, str], None] | None = None, **overrides) -> IndexReport:
    """Make sure the index under `cache_dir` holds a verified entry for every selected matrix of BASE.

    BASE is a local folder, a weights file or a Hub id `org/name[@revision]` in the local HF cache.
    """
    known = {f.name for f in fields(IndexOptions)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InputError(f"unknown index option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    opts = replace(options or IndexOptions(), **overrides)
    start = time.perf_counter()
    device = resolve_device(opts.device)
    store = open_checkpoint(resolve_source(base, "BASE"), allow_pickle=opts.allow_pickle, role="BASE")
    selection = Selection.build(opts.include, opts.exclude)
    selection.check_against(store, "BASE")
    targets, skipped = index_targets(store, selection)
    if not targets:
        raise InputError(f"BASE {base}: no weight matrix to index (check --include/--exclude)")
    layout = index_layout(opts.cache_dir)
    try:
        layout.root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"--cache-dir {layout.root}: cannot create the index folder ({e.strerror})") from e
    clean_tmp(layout)

    def prepare(target: _Target) -> _Read:
        W0 = store.get(target.name).to(torch.float32)
        if target.transposed:
            W0 = W0.T.contiguous()
        key = tensor_key(W0)
        return _Read(target, W0, key, read_entry(layout, key))

    def solve(item: _Read) -> IndexedMatrix:
        if item.found.spectrum is None:
            check_dense(item.target.name, item.key.shape, workers=opts.workers, hint=memory_hint(opts.workers))
        got = obtain(layout, item.key, item.W0, device=device, found=item.found,
                     verify_full_hash=opts.full_hash, version=__version__)
        if got.write_error:
            raise ResourceError(f"{got.write_error}; pass a writable --cache-dir")
        return IndexedMatrix(item.target.name, item.key.shape, item.key.digest, got.status, got.replaced)

    def started(i: int, target: _Target) -> None:
        if progress is not None:
            progress(i, len(targets), target.name)

    with torch_threads(opts.workers):
        matrices = run_ordered(targets, prepare, solve, workers=opts.workers, on_start=started)
    if progress is not None:
        progress(len(targets), len(targets), "")
    return IndexReport(base=str(base), root=layout.root, matrices=matrices, skipped=skipped,
                       seconds=time.perf_counter() - start)
