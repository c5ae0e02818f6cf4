"""`scale`: the paper's intervention (§5). Rescale intruder singular values of TUNED and write the model.

For every analysed matrix with at least one intruder among the top k (k, ε as in `scan`), the chosen
singular triplets (σ_j, u_j, v_j) of W_tuned = W0 + ΔW change by (λ − 1)·σ_j·u_j·v_jᵀ, so σ_j becomes λ·σ_j
and nothing else in the spectrum moves; "whole-update" writes W0 + λ·ΔW instead. Which triplets each target
picks: lorascope.spectral.intervention. Options and the scale.json schema: pipelines/scale_options.py.

The output follows the input: a LoRA adapter in gives a LoRA adapter out (the change appended as extra
rank, see weights/write_adapter.py); a checkpoint in, `merged`, or a DoRA adapter (whose merge is not
W0 + s·B·A) gives a full checkpoint in the layout and dtypes of TUNED (or of BASE for an adapter):
weights/write_checkpoint.py, weights/write_merged.py.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Literal

import torch

from lorascope._version import __version__
from lorascope.atomic import atomic_write_text
from lorascope.errors import InputError
from lorascope.index import IndexLayout, clean_tmp, index_layout, kept_spectrum
from lorascope.memory import check_dense, memory_hint
from lorascope.pipelines.scale_options import (
    REPORT,
    TARGETS,
    ScaledMatrix,
    ScaleOptions,
    ScaleResult,
    output_dirs,
    parse_lambdas,
)
from lorascope.spectral import check_k_fits
from lorascope.spectral.intervention import choose_triplets, neighbour_index
from lorascope.weights import MatrixPair, Plan, open_checkpoint, plan_pairs, read_adapter
from lorascope.weights.matrix_change import MatrixChange
from lorascope.weights.source import resolve_pair
from lorascope.weights.write_adapter import write_adapter_changes
from lorascope.weights.write_checkpoint import checkpoint_files, write_changed_checkpoint
from lorascope.weights.write_dir import check_out_dir, copy_beside, staged_dir
from lorascope.weights.write_merged import merge_plan, write_merged

__all__ = ["REPORT", "TARGETS", "ScaleOptions", "ScaleResult", "ScaledMatrix", "analyse_pair", "analyse_plan",
           "neighbour_index", "output_dirs", "parse_lambdas", "scale", "scaled_changes"]


# ----------------------------------------------------------------------------------------------- analysis


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
    notes: list[str] = []
    base = kept_spectrum(W0, layout, notes, __version__)
    choice = choose_triplets(W0, tuned, base, target=opts.target, k=opts.k, epsilon=opts.epsilon,
                             solver=opts.solver)
    if choice.no_neighbour:
        notes.append(f"{pair.name}: every singular vector is an intruder, so it has no neighbour; untouched")
    t = choice.triplets
    if t is None:
        return None, "; ".join(notes) or None
    return ScaledMatrix(
        name=pair.name,
        shape=pair.shape,
        source=pair.source,
        indices=t.indices,
        sigmas=t.sigmas,
        max_cos=t.max_cos,
        intruders=choice.intruders,
        solver=t.solver,
        U=t.U,
        V=t.V,
    ), "; ".join(notes) or None


def analyse_plan(
    pairs: Sequence[MatrixPair],
    opts: ScaleOptions,
    *,
    progress: Callable[[int, int, str], None] | None = None,
    total: int | None = None,
) -> tuple[list[ScaledMatrix], list[str], list[str]]:
    """`analyse_pair` over every pair, base spectra from the index unless opts.cache is off: the scaled
    matrices, the names left untouched, and the warnings. `progress(i, total, name)` before each matrix."""
    layout = index_layout(opts.cache_dir) if opts.cache and opts.target != "whole-update" else None
    if layout is not None:
        with contextlib.suppress(OSError):
            clean_tmp(layout)  # temp folders of killed runs, as scan and index do
    scaled: list[ScaledMatrix] = []
    untouched: list[str] = []
    warnings: list[str] = []
    for i, pair in enumerate(pairs):
        if progress is not None:
            progress(i, len(pairs) if total is None else total, pair.name)
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
    return scaled, untouched, warnings


# --------------------------------------------------------------------------------------------- writers


def scaled_changes(
    scaled: Sequence[ScaledMatrix], pairs: dict[str, MatrixPair], lam: float, target: str
) -> list[MatrixChange]:
    """The change each scaled matrix gets at λ, for the weights writers; none at λ = 1 (a byte copy)."""
    if lam == 1.0:
        return []
    if target == "whole-update":
        return [MatrixChange(pairs[sm.name], update_factor=lam) for sm in scaled]
    return [MatrixChange(pairs[sm.name], sm.U, sm.V, tuple(sm.weights(lam))) for sm in scaled]


# ---------------------------------------------------------------------------------------------- pipeline


def _check_sizes(plan: Plan, opts: ScaleOptions) -> None:
    if not plan.pairs:
        raise InputError(
            f"{plan.tuned}: no weight matrix to analyse against {plan.base} (check --include/--exclude)"
        )
    if opts.target == "whole-update":
        return
    for pair in plan.pairs:
        check_k_fits(pair.name, pair.shape, opts.k)


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
        merge = merge_plan(base_path, tuned_path, adapter, base_store, allow_pickle=opts.allow_pickle)
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

    scaled, untouched, found_warnings = analyse_plan(plan.pairs, opts, progress=progress)
    warnings += found_warnings
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
            changes = scaled_changes(scaled, pairs, lam, opts.target)
            if fmt == "adapter":
                write_adapter_changes(adapter, dest, changes)
            elif merge is not None:
                write_merged(base_store, adapter, merge, dest, changes)
                copy_beside(base_path, dest)
            else:
                write_changed_checkpoint(tuned_store, dest, changes)
                copy_beside(tuned_path, dest)
        result = replace(result, seconds=time.perf_counter() - start)
        atomic_write_text(tmp / REPORT, json.dumps(result.to_json(), indent=1) + "\n")
    return result
