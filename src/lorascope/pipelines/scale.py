"""`scale`: the paper's intervention (§5). Rescale intruder singular values of TUNED and write the model.

For every analysed matrix with at least one intruder among the top k (k, ε as in `scan`), the chosen
singular triplets (σ_j, u_j, v_j) of W_tuned = W0 + ΔW change by (λ − 1)·σ_j·u_j·v_jᵀ, so σ_j becomes λ·σ_j
and nothing else in the spectrum moves. Targets:

- "top-intruder" (the paper): the highest-ranked intruder i (smallest index below k with max |cos| < ε).
- "all-intruders": every intruder among the top k (what PEFT's reduce_intruder_dimension scales).
- "neighbour" (the paper's control): a non-intruder next to i in W_tuned's singular-value order: i + 1 when
  it is not an intruder; else i − 1 (always a non-intruder when i ≥ 1, since i is the first intruder);
  else (i = 0 and index 1 is an intruder) the first non-intruder index above 1. Indices at or past k are
  tested with the same ε; a matrix with no non-intruder at all is left untouched, with a warning.
- "whole-update" (the reviewers' baseline): W0 + λ·ΔW for every analysed matrix, no SVD needed.

v_j is computed as W_tunedᵀ u_j / σ_j with σ_j = ‖W_tunedᵀ u_j‖, so σ_j·u_j·v_jᵀ = u_j u_jᵀ W_tuned exactly.
The output follows the input: a LoRA adapter in gives a LoRA adapter out (the change appended as extra
rank, see weights/write_adapter.py); a checkpoint in, `merged`, or a DoRA adapter (whose merge is not
W0 + s·B·A) gives a full checkpoint in the layout and dtypes of TUNED (or of BASE for an adapter).
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Literal

import torch

from lorascope._version import __version__
from lorascope.atomic import atomic_write_text
from lorascope.errors import InputError
from lorascope.index import IndexLayout, clean_tmp, index_layout, obtain, tensor_key
from lorascope.memory import check_dense, memory_hint
from lorascope.spectral import (
    BaseSpectrum,
    LowRankUpdate,
    base_spectrum,
    intruder_mask,
    max_cos,
    top_singular,
)
from lorascope.weights import (
    LoraAdapter,
    LoraModule,
    MatrixPair,
    Plan,
    open_checkpoint,
    plan_pairs,
    read_adapter,
)
from lorascope.weights.conv1d import model_type, stored_transposed
from lorascope.weights.name_map import find_prefix_map
from lorascope.weights.source import resolve_pair
from lorascope.weights.store import TensorStore
from lorascope.weights.write_adapter import FactorEdit, appended_rank, scaled_update, write_adapter
from lorascope.weights.write_checkpoint import checkpoint_files, write_checkpoint
from lorascope.weights.write_dir import check_out_dir, copy_small_files, staged_dir

Target = Literal["top-intruder", "all-intruders", "neighbour", "whole-update"]
TARGETS: tuple[str, ...] = ("top-intruder", "all-intruders", "neighbour", "whole-update")
TRUST = 1e-6  # largest accepted angle-error bound of the top vectors before an exact SVD is used instead
EXACT_UP_TO = 1024  # min(m, n) up to which solver "auto" takes W_tuned's top vectors from a full SVD
REPORT = "scale.json"

Dense = Callable[[], torch.Tensor]


@dataclass(frozen=True)
class ScaleOptions:
    """Options of `scale`; every field is also a `lorascope scale` flag of the same name."""

    target: str = field(
        default="top-intruder", metadata={"help": "which singular values: " + ", ".join(TARGETS)}
    )
    k: int = field(default=10, metadata={"help": "top singular vectors of W_tuned examined per matrix"})
    epsilon: float = field(
        default=0.5, metadata={"help": "intruder iff max |cos| to every base vector < epsilon"}
    )
    merged: bool = field(
        default=False, metadata={"help": "write a full merged checkpoint, even for an adapter"}
    )
    force: bool = field(default=False, metadata={"help": "replace a non-empty output folder"})
    include: tuple[str, ...] = field(default=(), metadata={"help": "regexes: analyse only matching tensors"})
    exclude: tuple[str, ...] = field(default=(), metadata={"help": "regexes: skip matching tensors"})
    allow_missing: bool = field(
        default=False, metadata={"help": "report unpaired tensors instead of failing"}
    )
    allow_pickle: bool = field(
        default=False, metadata={"help": "read .bin/.pt with torch.load(weights_only=True)"}
    )
    solver: Literal["auto", "exact"] = field(default="auto", metadata={"help": "auto | exact (full SVDs)"})
    cache: bool = field(
        default=True, metadata={"help": "use and extend the base spectral index, as scan does"}
    )
    cache_dir: str | Path | None = field(default=None, metadata={"help": "index location (as scan's)"})

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise InputError(f"target must be one of {', '.join(TARGETS)}; got {self.target!r}")
        if isinstance(self.k, bool) or not isinstance(self.k, int) or self.k < 1:
            raise InputError(f"k must be an integer ≥ 1; got {self.k!r}")
        eps = self.epsilon
        if isinstance(eps, bool) or not (
            isinstance(eps, (int, float)) and math.isfinite(eps) and 0 < eps <= 1
        ):
            raise InputError(f"epsilon must be in (0, 1]; got {eps!r}")
        if self.solver not in ("auto", "exact"):
            raise InputError(f"solver must be 'auto' or 'exact'; got {self.solver!r}")


@dataclass(frozen=True)
class ScaledMatrix:
    """One matrix the intervention changes: which singular triplets, and the intruder test behind the choice."""

    name: str  # tensor name in BASE
    shape: tuple[int, int]  # analysed (out, in) orientation
    source: str  # "checkpoint", "lora", "dora" or "replaced" (MatrixPair.source)
    indices: tuple[int, ...]  # scaled singular indices of W_tuned (empty for whole-update)
    sigmas: tuple[float, ...]  # their singular values σ_j = ‖W_tunedᵀ u_j‖
    max_cos: tuple[float, ...]  # their max |cos| to every base left singular vector
    intruders: tuple[int, ...]  # every intruder index among the top k
    solver: str
    U: torch.Tensor = field(repr=False, compare=False)  # (m, t) float64 left singular vectors
    V: torch.Tensor = field(repr=False, compare=False)  # (n, t) float64 right singular vectors

    def weights(self, lam: float) -> list[float]:
        """Coefficients of the rank-1 changes u_j v_jᵀ for λ: (λ − 1)·σ_j."""
        return [(lam - 1.0) * s for s in self.sigmas]

    def change(self, lam: float) -> torch.Tensor:
        """The dense change Σ_j (λ − 1)·σ_j·u_j·v_jᵀ, float64, analysed orientation."""
        w = torch.tensor(self.weights(lam), dtype=torch.float64)
        return (self.U * w) @ self.V.T

    def to_json(self, lam: float, target: str) -> dict:
        return {
            "name": self.name,
            "shape": list(self.shape),
            "source": self.source,
            "target": target,
            "lambda": lam,
            "indices": list(self.indices),
            "sigma_before": list(self.sigmas),
            "sigma_after": [lam * s for s in self.sigmas],
            "max_cos": list(self.max_cos),
            "intruders": list(self.intruders),
            "solver": self.solver,
        }


@dataclass(frozen=True)
class ScaleResult:
    """What one `scale` run changed and wrote; `to_json()` is the content of OUT/scale.json."""

    version: str
    base: str
    tuned: str
    tuned_kind: str
    out: str
    output_format: Literal["adapter", "checkpoint"]
    options: ScaleOptions
    lambdas: tuple[float, ...]
    outputs: dict[float, str]  # λ -> folder relative to out ("." for a single λ)
    matrices: list[ScaledMatrix]
    untouched: list[str]  # analysed matrices left as they were (no intruder, or no neighbour)
    skipped: list[tuple[str, str]]
    warnings: list[str]
    notes: list[str]
    seconds: float = 0.0

    def to_json(self) -> dict:
        opts = self.options
        return {
            "lorascope_version": self.version,
            "base": self.base,
            "tuned": self.tuned,
            "tuned_kind": self.tuned_kind,
            "out": self.out,
            "output_format": self.output_format,
            "options": {
                "target": opts.target,
                "k": opts.k,
                "epsilon": opts.epsilon,
                "lambdas": list(self.lambdas),
                "merged": opts.merged,
                "include": list(opts.include),
                "exclude": list(opts.exclude),
                "allow_missing": opts.allow_missing,
                "solver": opts.solver,
                "cache": opts.cache,
            },
            "outputs": [
                {
                    "lambda": lam,
                    "path": path,
                    "matrices": [m.to_json(lam, opts.target) for m in self.matrices],
                }
                for lam, path in self.outputs.items()
            ],
            "modified_count": len(self.matrices),
            "untouched_count": len(self.untouched),
            "untouched": list(self.untouched),
            "skipped": [{"name": n, "reason": r} for n, r in self.skipped],
            "warnings": list(self.warnings),
            "notes": list(self.notes),
            "seconds": round(self.seconds, 3),
        }


def parse_lambdas(lambdas: float | str | Sequence[float]) -> tuple[float, ...]:
    """λ values as floats: finite, ≥ 0, distinct, at least one; a comma-separated string is accepted."""
    if isinstance(lambdas, str):
        try:
            values = [float(x) for x in lambdas.split(",") if x.strip()]
        except ValueError:
            raise InputError(f"--lambda: expected comma-separated numbers, got {lambdas!r}") from None
    elif isinstance(lambdas, (int, float)) and not isinstance(lambdas, bool):
        values = [float(lambdas)]
    else:
        values = list(lambdas)
    if not values:
        raise InputError("--lambda: give at least one value")
    for lam in values:
        if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not math.isfinite(lam) or lam < 0:
            raise InputError(f"--lambda: every λ must be a finite number ≥ 0; got {lam!r}")
    values = [float(v) for v in values]
    if len(set(values)) != len(values):
        raise InputError(f"--lambda: repeated value in {values}")
    return tuple(values)


def output_dirs(lambdas: Sequence[float]) -> dict[float, str]:
    """Folder of each λ's model inside OUT: OUT itself for one λ, else OUT/lambda-<λ>."""
    if len(lambdas) == 1:
        return {lambdas[0]: "."}
    return {lam: f"lambda-{lam!r}" for lam in lambdas}


# ----------------------------------------------------------------------------------------------- analysis


def _rmatmul(W0: torch.Tensor, tuned: torch.Tensor | LowRankUpdate, U: torch.Tensor) -> torch.Tensor:
    """W_tunedᵀ U in float64 without forming W_tuned when it is W0 + a LowRankUpdate."""
    W = W0.to(torch.float64)
    if isinstance(tuned, LowRankUpdate):
        B, A = tuned.B.to(torch.float64), tuned.A.to(torch.float64)
        return W.T @ U + tuned.scale * (A.T @ (B.T @ U))
    return tuned.to(torch.float64).T @ U


def _top(W0: torch.Tensor, tuned: torch.Tensor | LowRankUpdate, count: int, base: BaseSpectrum, solver: str):
    """W_tuned's top `count` singular pairs, exact below EXACT_UP_TO or when the fast path is not trusted."""
    if solver == "auto" and min(W0.shape) <= EXACT_UP_TO:
        solver = "exact"  # measured: a float64 SVD beats the Krylov paths at these sizes
    found = top_singular(W0, tuned, count, base=base, solver=solver)
    if found.error_bound > TRUST and not found.solver.startswith("exact"):
        found = top_singular(W0, tuned, count, base=base, solver="exact")
    return found


def neighbour_index(first: int, flags: Sequence[bool]) -> int | None:
    """The control index for top intruder `first` given intruder flags of W_tuned's leading vectors."""
    n = len(flags)
    if first + 1 < n and not flags[first + 1]:
        return first + 1
    if first >= 1:
        return first - 1
    return next((j for j in range(first + 2, n) if not flags[j]), None)


def _base(W0: torch.Tensor, layout: IndexLayout | None, warnings: list[str]) -> BaseSpectrum:
    """W0's base spectrum: from the base spectral index (read, or built and kept) or computed here."""
    if layout is None:
        return base_spectrum(W0)
    got = obtain(layout, tensor_key(W0), W0, device=torch.device("cpu"), version=__version__)
    if got.write_error:
        warnings.append(f"{got.write_error}; base spectra are computed but not kept")
    return got.spectrum


def analyse_pair(
    pair: MatrixPair, opts: ScaleOptions, layout: IndexLayout | None = None
) -> tuple[ScaledMatrix | None, str | None]:
    """The triplets to scale in one matrix (None: untouched) and a warning, if any.

    With `layout`, W0's spectrum comes from the base spectral index (see lorascope.index) as in `scan`.
    """
    W0, tuned = pair.load()
    m, n = W0.shape
    empty = torch.zeros(m, 0, dtype=torch.float64), torch.zeros(n, 0, dtype=torch.float64)
    if opts.target == "whole-update":
        return ScaledMatrix(pair.name, pair.shape, pair.source, (), (), (), (), "none", *empty), None
    p = min(m, n)
    notes: list[str] = []
    base = _base(W0, layout, notes)
    count = min(p, opts.k + 1) if opts.target == "neighbour" else opts.k
    while True:
        found = _top(W0, tuned, count, base, opts.solver)
        cos, _ = max_cos(found.U, base.U)
        flags = [bool(f) for f in intruder_mask(cos, opts.epsilon)]
        intruders = tuple(j for j in range(opts.k) if flags[j])
        if not intruders:
            return None, "; ".join(notes) or None
        if opts.target == "top-intruder":
            chosen: tuple[int, ...] = intruders[:1]
        elif opts.target == "all-intruders":
            chosen = intruders
        else:
            j = neighbour_index(intruders[0], flags)
            if j is None and count < p:
                count = min(p, 2 * count)
                continue
            if j is None:
                notes.append(
                    f"{pair.name}: every singular vector is an intruder, so it has no neighbour; untouched"
                )
                return None, "; ".join(notes)
            chosen = (j,)
        break
    U = found.U[:, list(chosen)].to(torch.float64)
    WtU = _rmatmul(W0, tuned, U)
    sigma = torch.linalg.vector_norm(WtU, dim=0)
    V = WtU / torch.where(sigma > 0, sigma, torch.ones_like(sigma))
    return ScaledMatrix(
        name=pair.name,
        shape=pair.shape,
        source=pair.source,
        indices=chosen,
        sigmas=tuple(float(s) for s in sigma),
        max_cos=tuple(float(cos[j]) for j in chosen),
        intruders=intruders,
        solver=found.solver,
        U=U,
        V=V,
    ), "; ".join(notes) or None


# ------------------------------------------------------------------------------------------ new values


def _dense(W0: torch.Tensor, tuned: torch.Tensor | LowRankUpdate) -> torch.Tensor:
    if isinstance(tuned, LowRankUpdate):
        return W0.to(torch.float64) + tuned.dense(torch.float64)
    return tuned.to(torch.float64)


def _scaled_value(pair: MatrixPair, sm: ScaledMatrix | None, lam: float, target: str) -> torch.Tensor:
    """W_tuned after the intervention (float64, analysed orientation); W_tuned itself when untouched."""
    W0, tuned = pair.load()
    Wt = _dense(W0, tuned)
    if sm is None or lam == 1.0:
        return Wt
    if target == "whole-update":
        W0 = W0.to(torch.float64)
        return W0 + lam * (Wt - W0)
    return Wt + sm.change(lam)


def _stored(value: torch.Tensor, transposed: bool, dtype: torch.dtype) -> torch.Tensor:
    value = value.T if transposed else value
    return value.contiguous().to(dtype)


def _square_rule(
    name: str, shape: tuple[int, int], stored: tuple[int, ...], decide: Callable[[], bool]
) -> bool:
    """Whether a stored tensor is the transpose of the analysed matrix: by shape, else by `decide()`."""
    if tuple(stored) == tuple(shape[::-1]) and shape[0] != shape[1]:
        return True
    if tuple(stored) == tuple(shape) and shape[0] != shape[1]:
        return False
    if tuple(stored) != tuple(shape):
        raise ValueError(f"{name}: stored shape {stored} does not fit analysed shape {shape}")
    return decide()


def _lora_transposed(base: TensorStore, pair: MatrixPair, module: LoraModule, adapter: LoraAdapter) -> bool:
    """Orientation of the base weight under a LoRA module, decided as the weights room's planner does."""
    if module.kind == "embedding":
        return False

    def decide() -> bool:
        if model_type(base.config):
            return stored_transposed(pair.name, base.config)
        return adapter.settings.fan_in_fan_out

    return _square_rule(pair.name, pair.shape, base.shape(pair.name), decide)


# --------------------------------------------------------------------------------------------- writers


def _write_adapter_output(
    dest: Path,
    lam: float,
    target: str,
    adapter: LoraAdapter,
    base: TensorStore,
    pairs: dict[str, MatrixPair],
    scaled: list[ScaledMatrix],
) -> None:
    modules = {m.module: m for m in adapter.modules}
    edits: list[FactorEdit] = []
    new_tensors: dict[str, torch.Tensor] = {}
    for sm in scaled if lam != 1.0 else []:
        pair = pairs[sm.name]
        if pair.source == "replaced":
            info = adapter.store.info(pair.tuned_name)
            transposed = _square_rule(
                pair.name, pair.shape, info.shape, lambda p=pair: stored_transposed(p.name, base.config)
            )
            new_tensors[pair.tuned_name] = _stored(
                _scaled_value(pair, sm, lam, target), transposed, info.dtype
            )
            continue
        module = modules[pair.tuned_name]
        if target != "whole-update":
            edits.append(appended_rank(adapter, module, sm.U, sm.V, sm.weights(lam)))
            continue
        edits.append(scaled_update(adapter, module, lam))
        if module.saved_base_key is not None:  # the adapter carries its own copy of this table
            saved = adapter.store.get(module.saved_base_key)
            flip = tuple(saved.shape) != module.shape
            start = (saved.T if flip else saved).to(torch.float64)
            W0 = pair.load()[0].to(torch.float64)
            if not torch.equal(start, W0):
                new_tensors[module.saved_base_key] = _stored(W0 + lam * (start - W0), flip, saved.dtype)
    write_adapter(adapter, dest, edits, new_tensors)


def _copy_beside(source: Path, dest: Path) -> None:
    """config.json, tokenizer files and other small files of a model folder (config.json for a file)."""
    if source.is_dir():
        copy_small_files(source, dest)
    elif (source.parent / "config.json").is_file():
        shutil.copyfile(source.parent / "config.json", dest / "config.json")


def _write_checkpoint_output(
    dest: Path,
    lam: float,
    target: str,
    tuned_path: Path,
    store: TensorStore,
    base: TensorStore,
    pairs: dict[str, MatrixPair],
    scaled: list[ScaledMatrix],
) -> None:
    config = base.config if model_type(base.config) else store.config
    values: dict[str, Dense] = {}
    for sm in scaled if lam != 1.0 else []:
        pair = pairs[sm.name]
        info = store.info(pair.tuned_name)
        transposed = _square_rule(
            pair.name, pair.shape, info.shape, lambda p=pair: stored_transposed(p.name, config)
        )
        values[pair.tuned_name] = lambda p=pair, s=sm, t=transposed, d=info.dtype: _stored(
            _scaled_value(p, s, lam, target), t, d
        )
    write_checkpoint(store, dest, values)
    _copy_beside(tuned_path, dest)


@dataclass(frozen=True)
class _MergePlan:
    """Everything a merged checkpoint of BASE + adapter needs: every adapted matrix, biases, whole tensors."""

    pairs: list[MatrixPair]
    biases: dict[str, tuple[str, float]]  # BASE bias name -> (lora_B.bias key, scale)
    tensors: dict[str, str]  # BASE name -> adapter key of a non-matrix tensor that replaces it


def _merge_plan(
    base_path: Path, tuned_path: Path, adapter: LoraAdapter, base: TensorStore, opts: ScaleOptions
) -> _MergePlan:
    """Pair every module of the adapter (not only the analysed ones) and check that all of it can be merged."""
    full = plan_pairs(base_path, tuned_path, include=(".*",), allow_pickle=opts.allow_pickle)
    for name, reason in ((s.name, s.reason) for s in full.skipped):
        if "trainable_token" in reason or "conv layer" in reason:
            raise InputError(f"{tuned_path}: cannot write a merged checkpoint: {name}: {reason}")
    keys = set(base.keys())
    mapper = find_prefix_map(
        keys, [m.module + ".weight" for m in adapter.modules] + [r.name for r in adapter.replaced]
    )
    biases: dict[str, tuple[str, float]] = {}
    for module in adapter.modules:
        if module.bias_key is None:
            continue
        name = mapper(module.module + ".bias", keys)
        if name is None:
            raise InputError(
                f"{tuned_path}: {module.bias_key!r} adds a bias that BASE lacks ({mapper.guess(module.module)}.bias); "
                "a merged checkpoint cannot hold it"
            )
        biases[name] = (module.bias_key, module.scale)
    matrices = {p.tuned_name for p in full.pairs if p.source == "replaced"}
    tensors: dict[str, str] = {}
    for item in adapter.replaced:
        if item.key in matrices:
            continue
        name = mapper(item.name, keys)
        if name is None or base.shape(name) != adapter.store.shape(item.key):
            raise InputError(
                f"{tuned_path}: {item.key!r} replaces a tensor that BASE lacks or stores otherwise"
            )
        tensors[name] = item.key
    return _MergePlan(full.pairs, biases, tensors)


def _write_merged_output(
    dest: Path,
    lam: float,
    target: str,
    base_path: Path,
    base: TensorStore,
    adapter: LoraAdapter,
    merge: _MergePlan,
    scaled: dict[str, ScaledMatrix],
) -> None:
    modules = {m.module: m for m in adapter.modules}
    values: dict[str, Dense] = {}
    for pair in merge.pairs:
        info = base.info(pair.name)
        if pair.source == "replaced":
            transposed = _square_rule(
                pair.name, pair.shape, info.shape, lambda p=pair: stored_transposed(p.name, base.config)
            )
        else:
            transposed = _lora_transposed(base, pair, modules[pair.tuned_name], adapter)
        sm = scaled.get(pair.name)
        values[pair.name] = lambda p=pair, s=sm, t=transposed, d=info.dtype: _stored(
            _scaled_value(p, s, lam, target), t, d
        )
    for name, (key, s) in merge.biases.items():
        analysed = any(
            sm.source != "replaced" and name == sm.name.removesuffix(".weight") + ".bias"
            for sm in scaled.values()
        )
        factor = s * (lam if target == "whole-update" and analysed else 1.0)
        dtype = base.dtype(name)
        values[name] = lambda n=name, k=key, f=factor, d=dtype: (
            base.get(n).to(torch.float64) + f * adapter.store.get(k).to(torch.float64)
        ).to(d)
    for name, key in merge.tensors.items():
        values[name] = lambda k=key, d=base.dtype(name): adapter.store.get(k).to(d)
    write_checkpoint(base, dest, values)
    _copy_beside(base_path, dest)


# ---------------------------------------------------------------------------------------------- pipeline


def _check_sizes(plan: Plan, opts: ScaleOptions) -> None:
    if not plan.pairs:
        raise InputError(
            f"{plan.tuned}: no weight matrix to analyse against {plan.base} (check --include/--exclude)"
        )
    if opts.target == "whole-update":
        return
    for pair in plan.pairs:
        p = min(pair.shape)
        if opts.k > p:
            raise InputError(
                f"{pair.name}: k={opts.k} is larger than the matrix allows (min{pair.shape} = {p})"
            )


def scale(
    base: str | Path | None,
    tuned: str | Path,
    out: str | Path,
    lambdas: float | str | Sequence[float],
    options: ScaleOptions | None = None,
    *,
    progress: Callable[[int, int, str], None] | None = None,
    **overrides,
) -> ScaleResult:
    """Scale the intruder singular values of TUNED (checkpoint or LoRA adapter) by each λ; write to `out`.

    One analysis pass serves every λ; with several, OUT/lambda-<λ>/ holds one model each. OUT/scale.json
    describes what changed. Options come from `options` with keyword overrides on top, as in `scan`.
    Bad input is an InputError raised before anything is written; the output appears whole or not at all.
    BASE and TUNED are local paths or Hub ids; BASE None: the one TUNED's adapter_config.json names.
    """
    known = {f.name for f in fields(ScaleOptions)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InputError(f"unknown scale option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    opts = replace(options or ScaleOptions(), **overrides)
    lams = parse_lambdas(lambdas)
    start = time.perf_counter()
    inputs = resolve_pair(base, tuned)
    base_path, tuned_path = inputs.base, inputs.tuned
    base, tuned = inputs.base_name, inputs.tuned_name  # scale.json names them as given
    out_path = check_out_dir(out, force=opts.force, inputs=[base_path, tuned_path])
    plan = plan_pairs(
        base_path,
        tuned_path,
        include=opts.include,
        exclude=opts.exclude,
        allow_missing=opts.allow_missing,
        allow_pickle=opts.allow_pickle,
    )
    _check_sizes(plan, opts)
    base_store = open_checkpoint(base_path, allow_pickle=opts.allow_pickle, role="BASE")
    warnings, notes = list(plan.warnings), []
    adapter = (
        read_adapter(tuned_path, allow_pickle=opts.allow_pickle) if plan.tuned_kind == "adapter" else None
    )
    dora = adapter is not None and (adapter.settings.use_dora or any(p.source == "dora" for p in plan.pairs))
    fmt: Literal["adapter", "checkpoint"] = (
        "adapter" if adapter is not None and not opts.merged and not dora else "checkpoint"
    )
    if adapter is not None and dora and not opts.merged:
        message = (
            "DoRA adapter: its merged weight m·(W0 + ΔW)/‖W0 + ΔW‖ is not W0 plus a low-rank product, so "
            "no adapter can hold the change exactly; wrote a merged full checkpoint instead"
        )
        notes.append(message)
        warnings.append(message)
    merge = None
    tuned_store = None
    if fmt == "checkpoint" and adapter is not None:
        checkpoint_files(base_store)
        merge = _merge_plan(base_path, tuned_path, adapter, base_store, opts)
        notes.append(
            "merged checkpoint: W0 + ΔW for every adapted matrix (the change added where scaled), "
            "BASE tensors elsewhere, in BASE's dtypes and shard layout"
        )
    elif fmt == "checkpoint":
        tuned_store = open_checkpoint(tuned_path, allow_pickle=opts.allow_pickle, role="TUNED")
        checkpoint_files(tuned_store)
    elif adapter.store.root.suffix != ".safetensors":
        raise InputError(
            f"{adapter.store.root}: scale writes adapter_model.safetensors only; convert this adapter"
        )
    if (
        fmt == "adapter"
        and opts.target != "whole-update"
        and adapter.settings.raw.get("ensure_weight_tying")
        and any(m.kind == "embedding" for m in adapter.modules)
    ):
        raise InputError(
            f"{tuned_path}: ensure_weight_tying shares the embedding's LoRA factors with the output "
            "head, so extra rank cannot be added to one alone; pass --merged"
        )

    layout = index_layout(opts.cache_dir) if opts.cache and opts.target != "whole-update" else None
    if layout is not None:
        with contextlib.suppress(OSError):
            clean_tmp(layout)  # temp folders of killed runs, as scan and index do
    scaled: list[ScaledMatrix] = []
    untouched: list[str] = []
    for i, pair in enumerate(plan.pairs):
        if progress is not None:
            progress(i, len(plan.pairs), pair.name)
        if opts.target != "whole-update":
            check_dense(pair.name, pair.shape, hint=memory_hint())
        try:
            found, warning = analyse_pair(pair, opts, layout)
        except InputError as e:
            raise InputError(f"{pair.name}: {e}") from e
        if warning:
            warnings.append(warning)
        if found is None:
            untouched.append(pair.name)
        else:
            scaled.append(found)
    if progress is not None:
        progress(len(plan.pairs), len(plan.pairs), "")

    pairs = {p.name: p for p in plan.pairs}
    dirs = output_dirs(lams)
    result = ScaleResult(
        version=__version__,
        base=str(base),
        tuned=str(tuned),
        tuned_kind=plan.tuned_kind,
        out=str(out_path),
        output_format=fmt,
        options=opts,
        lambdas=lams,
        outputs=dirs,
        matrices=scaled,
        untouched=untouched,
        skipped=[(s.name, s.reason) for s in plan.skipped],
        warnings=warnings,
        notes=notes,
    )
    with staged_dir(out_path, force=opts.force) as tmp:
        for lam, sub in dirs.items():
            dest = tmp / sub
            dest.mkdir(exist_ok=True)
            if fmt == "adapter":
                _write_adapter_output(dest, lam, opts.target, adapter, base_store, pairs, scaled)
            elif merge is not None:
                _write_merged_output(
                    dest, lam, opts.target, base_path, base_store, adapter, merge, {s.name: s for s in scaled}
                )
            else:
                _write_checkpoint_output(
                    dest, lam, opts.target, tuned_path, tuned_store, base_store, pairs, scaled
                )
        result = replace(result, seconds=time.perf_counter() - start)
        atomic_write_text(tmp / REPORT, json.dumps(result.to_json(), indent=1) + "\n")
    return result
