"""`scan`: pair every weight matrix of BASE and TUNED and measure intruders, similarity and update rank."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Literal

from lorascope.errors import InputError
from lorascope.results import MatrixResult, ScanResult
from lorascope.spectral.analyze import analyze_matrix
from lorascope.weights import plan_pairs

DEFAULT_EPSILONS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class ScanOptions:
    """Options of a scan; every field is also a `lorascope scan` flag of the same name."""

    k: int = field(default=10, metadata={"help": "top singular vectors of W_tuned examined per matrix"})
    epsilon: float = field(default=0.5, metadata={"help": "intruder iff max |cos| to every base vector < epsilon"})
    epsilons: tuple[float, ...] = field(default=DEFAULT_EPSILONS, metadata={"help": "ε grid of the sweep (k fixed)"})
    k_fractions: tuple[float, ...] | None = field(
        default=None, metadata={"help": "k as fractions of all singular vectors (ε fixed); needs full SVDs"})
    map_size: int = field(default=10, metadata={"help": "n of the top-n × top-n similarity map"})
    include: tuple[str, ...] = field(default=(), metadata={"help": "regexes: analyse only matching tensors"})
    exclude: tuple[str, ...] = field(default=(), metadata={"help": "regexes: skip matching tensors"})
    allow_missing: bool = field(default=False, metadata={"help": "report unpaired tensors instead of failing"})
    allow_pickle: bool = field(default=False, metadata={"help": "read .bin/.pt with torch.load(weights_only=True)"})
    solver: Literal["auto", "exact"] = field(default="auto", metadata={"help": "'exact' forces full SVDs"})

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


def _version() -> str:
    from lorascope import __version__

    return __version__


def scan(base: str | Path, tuned: str | Path, options: ScanOptions | None = None, *,
         progress: Callable[[int, int, str], None] | None = None, **overrides) -> ScanResult:
    """Measure how TUNED (checkpoint or PEFT adapter) changed BASE, matrix by matrix.

    Options come from `options`, with keyword overrides on top: `scan(base, tuned, k=20, epsilon=0.3)`.
    `progress(i, n, name)` is called before each matrix. Raises `InputError` on any bad input,
    before anything is written.
    """
    known = {f.name for f in fields(ScanOptions)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InputError(f"unknown scan option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    opts = replace(options or ScanOptions(), **overrides)
    start = time.perf_counter()
    plan = plan_pairs(base, tuned, include=opts.include, exclude=opts.exclude,
                      allow_missing=opts.allow_missing, allow_pickle=opts.allow_pickle)
    if not plan.pairs:
        raise InputError(f"{tuned}: no weight matrix to analyse against {base} (check --include/--exclude)")
    for pair in plan.pairs:
        p = min(pair.shape)
        if opts.k > p:
            raise InputError(f"{pair.name}: k={opts.k} is larger than the matrix allows (min{pair.shape} = {p})")
    results = []
    for i, pair in enumerate(plan.pairs):
        if progress is not None:
            progress(i, len(plan.pairs), pair.name)
        W0, tuned_matrix = pair.load()
        try:
            analysis = analyze_matrix(W0, tuned_matrix, k=opts.k, epsilon=opts.epsilon, epsilons=opts.epsilons,
                                      map_size=opts.map_size, k_fractions=opts.k_fractions, solver=opts.solver)
        except InputError as e:
            raise InputError(f"{pair.name}: {e}") from e
        results.append(MatrixResult(pair.name, pair.shape, analysis))
        del W0, tuned_matrix
    if progress is not None:
        progress(len(plan.pairs), len(plan.pairs), "")
    return ScanResult(
        version=_version(), base=str(base), tuned=str(tuned), tuned_kind=plan.tuned_kind,
        k=opts.k, epsilon=opts.epsilon, epsilons=tuple(opts.epsilons), k_fractions=opts.k_fractions,
        matrices=results, skipped=[(s.name, s.reason) for s in plan.skipped], warnings=list(plan.warnings),
        seconds=time.perf_counter() - start,
    )
