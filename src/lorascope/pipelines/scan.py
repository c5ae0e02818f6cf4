"""`scan`: pair every weight matrix of BASE and TUNED and measure intruders, similarity and update rank.

Each base spectrum (all of W0's left singular vectors) comes from the base spectral index (lorascope.index)
when it holds the matrix, and is computed and added to it otherwise, so a second scan of the same base
decomposes no base matrix. A reader thread loads the next matrix (and its index entry) while the current
one is solved; `workers` matrices are solved at once.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Literal

import torch

from lorascope._version import __version__
from lorascope.errors import InputError
from lorascope.index import (
    EntryRead,
    IndexLayout,
    TensorKey,
    clean_tmp,
    compute_spectrum,
    index_layout,
    obtain,
    read_entry,
    resolve_device,
    run_ordered,
    tensor_key,
    torch_threads,
)
from lorascope.index.parallel import check_workers
from lorascope.index.precision import for_solving
from lorascope.memory import check_dense, memory_hint
from lorascope.pipelines.unchanged import UnchangedWatch
from lorascope.results import MatrixResult, ScanResult
from lorascope.spectral import DEFAULT_EPSILONS, BaseSpectrum, LowRankUpdate, check_k_fits
from lorascope.spectral.analyze import analyze_matrix
from lorascope.spectral.identical import unchanged as is_unchanged
from lorascope.spectral.workspace import Workspace
from lorascope.weights import MatrixPair, plan_pairs
from lorascope.weights.in_memory import InMemory, is_in_memory, open_pair, source_name
from lorascope.weights.source import resolve_pair


@dataclass(frozen=True)
class ScanOptions:
    """Options of a scan; every field is also a `lorascope scan` flag of the same name."""

    k: int = field(default=10, metadata={"help": "top singular vectors of W_tuned examined per matrix"})
    epsilon: float = field(default=0.5, metadata={"help": "intruder iff max |cos| to every base vector < epsilon"})
    epsilons: tuple[float, ...] = field(default=DEFAULT_EPSILONS, metadata={"help": "ε grid of the sweep (k fixed)"})
    k_fractions: tuple[float, ...] | None = field(
        default=None, metadata={"help": "k-fraction sweep (ε fixed), e.g. 0.1,0.5,1; needs full SVDs"})
    map_size: int = field(default=10, metadata={"help": "n of the top-n × top-n similarity map"})
    include: tuple[str, ...] = field(default=(), metadata={"help": "regexes: analyse only matching tensors"})
    exclude: tuple[str, ...] = field(default=(), metadata={"help": "regexes: skip matching tensors"})
    allow_missing: bool = field(default=False, metadata={"help": "report unpaired tensors instead of failing"})
    allow_pickle: bool = field(default=False, metadata={"help": "read .bin/.pt with torch.load(weights_only=True)"})
    solver: Literal["auto", "exact"] = field(default="auto", metadata={"help": "auto | exact (full SVDs)"})
    update_stats: bool = field(default=True, metadata={
        "help": "measure ΔW (effective rank, norms); for full checkpoints this costs more than the intruder test"})
    cache: bool = field(default=True, metadata={"help": "use and extend the base spectral index (`lorascope index`)"})
    cache_dir: str | Path | None = field(
        default=None, metadata={"help": "index location (default $LORASCOPE_CACHE, else the user cache dir)"})
    workers: int = field(default=1, metadata={"help": "matrices solved in parallel (threads)"})
    device: str = field(default="cpu", metadata={"help": "where the solves run: cpu, cuda, cuda:N or auto"})

    def __post_init__(self) -> None:
        if not isinstance(self.k, int) or self.k < 1:
            raise InputError(f"k must be an integer ≥ 1; got {self.k!r}")
        for name, eps in [("epsilon", self.epsilon), *(("epsilons", e) for e in self.epsilons)]:
            if not (isinstance(eps, (int, float)) and 0 < eps <= 1 and math.isfinite(eps)):
                raise InputError(f"{name} must be in (0, 1]; got {eps!r}")
        for f in self.k_fractions or ():
            if not 0 < f <= 1:
                raise InputError(f"k_fractions must be in (0, 1]; got {f!r}")
        if self.map_size < 1:
            raise InputError(f"map_size must be ≥ 1; got {self.map_size!r}")
        if self.solver not in ("auto", "exact"):
            raise InputError(f"solver must be 'auto' or 'exact'; got {self.solver!r}")
        check_workers(self.workers)
        if not isinstance(self.device, (str, torch.device)):
            raise InputError(f"device must be a string such as 'cpu' or 'cuda'; got {self.device!r}")


@dataclass(frozen=True)
class _Loaded:
    """One matrix read by the reader thread: the pair, its tensors, its index key and what the index holds."""

    pair: MatrixPair
    W0: torch.Tensor
    tuned: torch.Tensor | LowRankUpdate
    key: TensorKey | None
    found: EntryRead | None


class _Notes:
    """Warnings gathered from worker threads, each once, in first-seen order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.items: list[str] = []
        self.computed = 0  # base spectra computed here (index misses, or every matrix without the index)

    def add(self, text: str) -> None:
        with self._lock:
            if text not in self.items:
                self.items.append(text)

    def count_computed(self) -> None:
        with self._lock:
            self.computed += 1


def _to_device(tuned: torch.Tensor | LowRankUpdate, device: torch.device) -> torch.Tensor | LowRankUpdate:
    if isinstance(tuned, LowRankUpdate):
        return LowRankUpdate(tuned.B.to(device), tuned.A.to(device), tuned.scale)
    return tuned.to(device)


def _base_of(item: _Loaded, layout: IndexLayout | None, device: torch.device, notes: _Notes) -> BaseSpectrum:
    """W0's spectrum at the stored precision: from the index (read or built), or computed when --no-cache."""
    if layout is None or item.key is None:
        notes.count_computed()
        return compute_spectrum(item.W0, device)
    got = obtain(layout, item.key, item.W0, device=device, found=item.found, version=__version__)
    if got.status != "hit":
        notes.count_computed()
    if got.write_error:
        notes.add(f"{got.write_error}; base spectra are computed but not kept")
    if got.replaced:
        notes.add(f"{item.pair.name}: rebuilt its base index entry ({got.replaced})")
    return got.spectrum


def scan(base: str | Path | InMemory | None, tuned: str | Path | InMemory | None = None,
         options: ScanOptions | None = None, *,
         progress: Callable[[int, int, str], None] | None = None, only: Collection[str] | None = None,
         **overrides) -> ScanResult:
    """Measure how TUNED (checkpoint or PEFT adapter) changed BASE, matrix by matrix.

    Each is a local folder, a weights file or a Hub id `org/name[@revision]` (see lorascope.weights.source).
    `scan(adapter)` or `scan(None, adapter)`: the base is the one the adapter's adapter_config.json names.

    Options come from `options`, with keyword overrides on top: `scan(base, tuned, k=20, epsilon=0.3)`.
    `progress(i, n, name)` is called (on the calling thread) before each matrix. Raises `InputError` on any
    bad input, before anything is written. Base spectra come from the index under `cache_dir` unless
    `cache=False`; cold, warm and uncached scans return the same numbers. `only`: analyse just these BASE
    matrix names of the plan (one task's group in a multi-input scan, which merges the groups).
    BASE and TUNED may also be in memory: an nn.Module, a state dict, or (TUNED) a PEFT PeftModel, read
    without saving them (lorascope.weights.in_memory); the numbers are those of the saved folders.
    """
    known = {f.name for f in fields(ScanOptions)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InputError(f"unknown scan option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    opts = replace(options or ScanOptions(), **overrides)
    start = time.perf_counter()
    device = resolve_device(opts.device)
    if tuned is None:
        base, tuned = None, base
    if is_in_memory(base) or is_in_memory(tuned):  # models or state dicts, read where they are
        base_source, tuned_source = open_pair(base, tuned)
        base, tuned = source_name(base_source), source_name(tuned_source)
    else:
        inputs = resolve_pair(base, tuned)
        base, tuned = inputs.base_name, inputs.tuned_name  # results and messages name them as given
        base_source, tuned_source = inputs.base, inputs.tuned
    plan = plan_pairs(base_source, tuned_source, include=opts.include, exclude=opts.exclude,
                      allow_missing=opts.allow_missing, allow_pickle=opts.allow_pickle)
    if not plan.pairs:
        raise InputError(f"{tuned}: no weight matrix to analyse against {base} (check --include/--exclude)")
    for pair in plan.pairs:
        check_k_fits(pair.name, pair.shape, opts.k)
    pairs = plan.pairs
    if only is not None:
        wanted = set(only)
        unknown = sorted(wanted - {pair.name for pair in plan.pairs})
        if unknown:
            raise InputError(f"{tuned}: {unknown[0]!r} is not among the matrices it pairs with {base}")
        pairs = [pair for pair in plan.pairs if pair.name in wanted]
    layout = index_layout(opts.cache_dir) if opts.cache else None
    if layout is not None:
        with contextlib.suppress(OSError):
            clean_tmp(layout)
    notes = _Notes()
    unchanged = UnchangedWatch(str(tuned), plan.tuned_kind)
    total = len(pairs)
    extra_hint = [x for x, on in [("drop --k-fractions", opts.k_fractions),
                                  ("use --solver auto", opts.solver == "exact")] if on]

    def prepare(pair: MatrixPair) -> _Loaded:
        W0, tuned_matrix = pair.load()
        key = tensor_key(W0) if layout is not None else None
        found = read_entry(layout, key) if key is not None else None
        return _Loaded(pair, W0, tuned_matrix, key, found)

    per_thread = threading.local()  # a Workspace per solving thread: the float64 copies reuse their memory

    def workspace() -> Workspace:
        if not hasattr(per_thread, "workspace"):
            per_thread.workspace = Workspace()
        return per_thread.workspace

    def warm_up() -> None:
        """With an index, most matrices are warm: size the first one's float64 buffers while it is read."""
        m, n = pairs[0].shape
        workspace().reserve("W", m * n, device)  # W0 (adapter) or W_tuned (checkpoint) in float64
        if plan.tuned_kind == "adapter":
            workspace().reserve("U0", m * min(m, n), device)  # the base basis, for the structured solver

    def solve(item: _Loaded) -> MatrixResult:
        pair = item.pair
        unchanged.note(pair.name, item.W0, item.tuned)
        # ΔW = 0 (solver "identical"): nothing to solve. W0's top σ come from the index when it holds the matrix;
        # on a cold index only those top values are computed (no base spectrum is built or stored for it).
        same = opts.solver == "auto" and is_unchanged(item.W0, item.tuned)
        stored = None if item.found is None else item.found.spectrum
        dense_update = opts.update_stats and not isinstance(item.tuned, LowRankUpdate)
        if not same and (dense_update or opts.k_fractions or opts.solver == "exact"
                         or stored is None):  # some dense SVD of this matrix is due
            check_dense(pair.name, pair.shape, workers=opts.workers, hint=memory_hint(opts.workers, *extra_hint))
        if not same and stored is None:
            workspace().clear()  # the base spectrum's solve needs the memory more than the next upcast
        try:
            if same:
                spectrum = None if stored is None else for_solving(stored, device)
            else:
                spectrum = for_solving(_base_of(item, layout, device, notes), device)
            analysis = analyze_matrix(item.W0.to(device), _to_device(item.tuned, device), k=opts.k,
                                      epsilon=opts.epsilon, epsilons=opts.epsilons, map_size=opts.map_size,
                                      k_fractions=opts.k_fractions, base=spectrum, solver=opts.solver,
                                      update_stats=opts.update_stats, workspace=workspace(), identical=same)
        except InputError as e:
            raise InputError(f"{pair.name}: {e}") from e
        return MatrixResult(pair.name, pair.shape, analysis)

    def started(i: int, pair: MatrixPair) -> None:
        if progress is not None:
            progress(i, total, pair.name)

    with torch_threads(opts.workers):
        results = run_ordered(pairs, prepare, solve, workers=opts.workers, on_start=started,
                              warm_up=warm_up if layout is not None else None)
    if progress is not None:
        progress(total, total, "")
    return ScanResult(
        version=__version__, base=str(base), tuned=str(tuned), tuned_kind=plan.tuned_kind,
        k=opts.k, epsilon=opts.epsilon, epsilons=tuple(opts.epsilons), k_fractions=opts.k_fractions,
        matrices=results, skipped=[(s.name, s.reason) for s in plan.skipped],
        warnings=list(plan.warnings) + unchanged.warnings() + notes.items, seconds=time.perf_counter() - start,
        base_spectra_computed=notes.computed,
    )
