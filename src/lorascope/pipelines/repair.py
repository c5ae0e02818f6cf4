"""`repair`: the paper's intervention with λ chosen on the user's data, and the repaired adapter written.

One analysis pass (as `scale`) finds each matrix's intruders. The adapter is merged into its base in
memory; for the unscaled adapter (λ = 1) and every λ of the grid the targeted singular values are
rescaled in place (σ_j → λ·σ_j) and task quality and forgetting are measured (see repair_measure.py).
The rule of repair_choice.py picks λ: the least forgetting whose quality drop stays within the budget.
Only the chosen adapter is written, exactly as `scale` writes it (the change appended as extra LoRA
rank), with OUT/repair.json (every λ's measurements, the choice and the rule) and OUT/report.html.
With no intruder, or no λ within budget, no adapter is written; repair.json records what was measured.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from lorascope._version import __version__
from lorascope.atomic import atomic_write_text
from lorascope.errors import InputError
from lorascope.pipelines.forget import ForgetOptions
from lorascope.pipelines.repair_choice import Point, choose_lambda, quality_drop_pct, rule_text, within_budget
from lorascope.pipelines.repair_measure import Measurement, RepairBench, TextSettings, adapter_objective, check_inputs
from lorascope.pipelines.scale import (
    ScaledMatrix,
    ScaleOptions,
    _check_sizes,
    analyse_plan,
    parse_lambdas,
    scaled_changes,
)
from lorascope.weights import plan_pairs, read_adapter
from lorascope.weights.source import resolve_pair
from lorascope.weights.write_adapter import write_adapter_changes
from lorascope.weights.write_dir import check_out_dir, staged_dir

TARGETS: tuple[str, ...] = ("top-intruder", "all-intruders")
REPORT = "repair.json"
PAGE = "report.html"


@dataclass(frozen=True)
class RepairOptions:
    """Options of `repair`; every field is also a `lorascope repair` flag of the same name."""

    max_quality_drop: float = field(default=0.5, metadata={
        "help": "largest accepted quality loss, in percent of the unscaled adapter's (accuracy drop or loss rise)"})
    lambdas: tuple[float, ...] = field(default=(0.0, 0.25, 0.5, 0.7, 0.9), metadata={
        "help": "λ values tried (σ of each targeted intruder → λ·σ); the unscaled adapter (λ = 1) is always measured"})
    target: str = field(default="top-intruder", metadata={"help": "which singular values: " + " | ".join(TARGETS)})
    forget_text: str | Path | None = field(default=None, metadata={
        "help": "text that must not be forgotten: one document per line, or JSONL (default: bundled news text)"})
    text_column: str = field(default="text", metadata={"help": "text column of --data (and of a JSONL forget text)"})
    label_column: str = field(default="label", metadata={"help": "label column of --data (classification adapters)"})
    k: int = field(default=10, metadata={"help": "top singular vectors of W_tuned examined per matrix"})
    epsilon: float = field(default=0.5, metadata={"help": "intruder iff max |cos| to every base vector < epsilon"})
    max_length: int = field(default=128, metadata={
        "help": "tokens per validation example (longer ones are cut), as `train` measures quality"})
    forget_mode: str = field(default="rolling", metadata={
        "help": "rolling: each forget document on its own in windows of the context length (as "
                "lm-evaluation-harness); stream: EOS-joined documents cut into chunk_length chunks"})
    forget_chunks: int | None = field(default=None, metadata={
        "help": "forget text scored, in chunks of chunk_length tokens (default: 64 of the news text; all of a file)"})
    chunk_length: int = field(default=128, metadata={
        "help": "tokens per chunk (stream mode; the unit of --forget-chunks)"})
    context: int | None = field(default=None, metadata={
        "help": "rolling window length in tokens (default: the base model's context length)"})
    batch_size: int = field(default=8, metadata={"help": "examples or chunks per forward pass"})
    force: bool = field(default=False, metadata={"help": "replace a non-empty output folder"})
    include: tuple[str, ...] = field(default=(), metadata={"help": "regexes: analyse only matching tensors"})
    exclude: tuple[str, ...] = field(default=(), metadata={"help": "regexes: skip matching tensors"})
    cache: bool = field(default=True, metadata={"help": "use and extend the base spectral index, as scan does"})
    cache_dir: str | Path | None = field(default=None, metadata={"help": "index location (as scan's)"})

    def __post_init__(self) -> None:
        if self.target not in TARGETS:
            raise InputError(f"--target must be one of {', '.join(TARGETS)}; got {self.target!r}")
        b = self.max_quality_drop
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not math.isfinite(b) or b < 0:
            raise InputError(f"--max-quality-drop must be a finite percentage ≥ 0; got {b!r}")
        try:
            lams = parse_lambdas(self.lambdas)
        except InputError as e:
            raise InputError(str(e).replace("--lambda:", "--lambdas:")) from None
        if 1.0 in lams:
            raise InputError("--lambdas: leave out 1 (the unscaled adapter is always measured)")
        object.__setattr__(self, "lambdas", lams)
        for name in ("k", "max_length", "batch_size", "forget_chunks"):
            value = getattr(self, name)
            if value is None and name == "forget_chunks":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"--{name.replace('_', '-')} must be a positive integer; got {value!r}")
        self.text_settings()  # the forget options check themselves
        eps = self.epsilon
        if isinstance(eps, bool) or not (isinstance(eps, (int, float)) and math.isfinite(eps) and 0 < eps <= 1):
            raise InputError(f"--epsilon must be in (0, 1]; got {eps!r}")

    def scale_options(self) -> ScaleOptions:
        """The analysis settings, as `scale` takes them."""
        return ScaleOptions(target=self.target, k=self.k, epsilon=self.epsilon, include=self.include,
                            exclude=self.exclude, cache=self.cache, cache_dir=self.cache_dir)

    def text_settings(self) -> TextSettings:
        """How `repair_measure` reads and scores the validation data and the forget text."""
        forget = ForgetOptions(chunks=self.forget_chunks, chunk_length=self.chunk_length, batch_size=self.batch_size,
                               mode=self.forget_mode, context=self.context, text_column=self.text_column)
        return TextSettings(self.text_column, self.label_column, self.max_length, self.batch_size, forget)


@dataclass(frozen=True)
class LambdaPoint:
    """One measured λ: quality, forgetting, and their changes against the unscaled adapter."""

    lam: float
    quality: float
    quality_drop_pct: float  # how much worse than λ = 1, percent (negative: better)
    forget_loss: float
    forgetting: float
    forgetting_change_pct: float | None  # 100·(F_λ − F_1)/|F_1|; None when F_1 = 0
    within_budget: bool

    def to_json(self) -> dict:
        return {"lambda": self.lam, "quality": self.quality, "quality_drop_pct": self.quality_drop_pct,
                "forget_loss": self.forget_loss, "forgetting": self.forgetting,
                "forgetting_change_pct": self.forgetting_change_pct, "within_budget": self.within_budget}


@dataclass(frozen=True)
class RepairResult:
    """What one `repair` run measured, chose and wrote; `to_json()` is the content of OUT/repair.json."""

    version: str
    base: str
    adapter: str
    out: str
    data: str
    forget_text: str
    objective: str  # "classify" | "lm"
    quality_measure: str  # "accuracy" | "task_loss"
    higher_is_better: bool
    options: RepairOptions
    rule: str
    quality_limit: float | None  # the worst quality the budget accepts (None without intruders)
    base_forget_loss: float
    base_quality: float | None  # the base model's task loss (lm objective); None for a classifier
    unscaled: LambdaPoint
    points: list[LambdaPoint]  # the --lambdas, in the order given (empty without intruders)
    chosen: float | None
    message: str
    adapter_written: bool
    matrices: list[ScaledMatrix]
    untouched: list[str]
    warnings: list[str]
    seconds: float = 0.0

    def to_json(self) -> dict:
        o = self.options
        lam = self.chosen if self.chosen is not None else 1.0
        return {
            "lorascope_version": self.version,
            "repair": True,
            "base": self.base,
            "adapter": self.adapter,
            "out": self.out,
            "data": self.data,
            "forget_text": self.forget_text,
            "objective": self.objective,
            "quality_measure": self.quality_measure,
            "higher_is_better": self.higher_is_better,
            "options": {"max_quality_drop": o.max_quality_drop, "lambdas": list(o.lambdas), "target": o.target,
                        "k": o.k, "epsilon": o.epsilon, "text_column": o.text_column,
                        "label_column": o.label_column, "max_length": o.max_length, "forget_mode": o.forget_mode,
                        "chunk_length": o.chunk_length, "forget_chunks": o.forget_chunks, "context": o.context,
                        "include": list(o.include), "exclude": list(o.exclude)},
            "rule": self.rule,
            "quality_limit": self.quality_limit,
            "base_forget_loss": self.base_forget_loss,
            "base_quality": self.base_quality,
            "unscaled": self.unscaled.to_json(),
            "points": [p.to_json() for p in self.points],
            "chosen_lambda": self.chosen,
            "message": self.message,
            "adapter_written": self.adapter_written,
            "intruder_matrices": len(self.matrices),
            "matrices": [m.to_json(lam, o.target) for m in self.matrices],
            "untouched": list(self.untouched),
            "warnings": list(self.warnings),
            "seconds": round(self.seconds, 3),
        }


def quality_limit(reference: float, max_drop_pct: float, higher_is_better: bool) -> float:
    """The worst quality within the budget: reference ∓ max_drop_pct % of |reference|."""
    step = abs(reference) * max_drop_pct / 100.0
    return reference - step if higher_is_better else reference + step


def _point(lam: float, m: Measurement, ref: Measurement, opts: RepairOptions, higher: bool) -> LambdaPoint:
    drop = 0.0 if lam == 1.0 else quality_drop_pct(m.quality, ref.quality, higher)
    change = None if ref.forgetting == 0 else 100.0 * (m.forgetting - ref.forgetting) / abs(ref.forgetting)
    inside = lam != 1.0 and within_budget(Point(lam, m.quality, m.forgetting),
                                          Point(1.0, ref.quality, ref.forgetting), opts.max_quality_drop, higher)
    return LambdaPoint(lam, m.quality, drop, m.forget_loss, m.forgetting, change, inside)


def _check_adapter(adapter_path: Path, plan, adapter) -> None:
    """repair reads and writes a plain LoRA adapter in safetensors (as `scale` writes adapters)."""
    if plan.tuned_kind != "adapter":
        raise InputError(f"{adapter_path}: not a PEFT LoRA adapter (no adapter_config.json); repair measures "
                         "and writes adapters; use `lorascope scale` for a full checkpoint")
    if adapter.settings.use_dora or any(p.source == "dora" for p in plan.pairs):
        raise InputError(f"{adapter_path}: a DoRA adapter: its merge is not W0 plus a low-rank product, so no "
                         "adapter can hold the repair exactly; use `lorascope scale --merged`")
    if adapter.store.root.suffix != ".safetensors":
        raise InputError(f"{adapter.store.root}: repair writes adapter_model.safetensors only; convert this adapter")
    if adapter.settings.raw.get("ensure_weight_tying") and any(m.kind == "embedding" for m in adapter.modules):
        raise InputError(f"{adapter_path}: ensure_weight_tying shares the embedding's LoRA factors with the output "
                         "head, so extra rank cannot be added to one alone")


def repair(
    base: str | Path | None,
    adapter: str | Path,
    out: str | Path,
    data: str | Path,
    options: RepairOptions | None = None,
    *,
    progress: Callable[[int, int, str], None] | None = None,
    **overrides,
) -> RepairResult:
    """Measure ADAPTER on BASE and at every λ, choose λ by the budget rule, write the repaired adapter to OUT.

    BASE and ADAPTER are local folders or Hub ids (org/name[@revision]); BASE None takes the base that
    adapter_config.json names, as PEFT does. Options come from `options` with keyword overrides on top.
    Bad input is an InputError raised before anything is written; OUT appears whole (the adapter when one
    is chosen, repair.json, report.html) or not at all.
    """
    known = {f.name for f in fields(RepairOptions)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise InputError(f"unknown repair option(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    opts = replace(options or RepairOptions(), **overrides)
    start = time.perf_counter()
    pair = resolve_pair(base, adapter)
    base_path, adapter_path = pair.base, pair.tuned
    data_path = Path(data).expanduser()
    forget_path = None if opts.forget_text is None else Path(opts.forget_text).expanduser()
    inputs = [base_path, adapter_path, data_path] + ([forget_path] if forget_path is not None else [])
    out_path = check_out_dir(out, force=opts.force, inputs=inputs)
    if (adapter_path / "adapter_config.json").is_file():
        check_inputs(data_path, forget_path, adapter_objective(adapter_path), opts.text_settings())
    plan = plan_pairs(base_path, adapter_path, include=opts.include, exclude=opts.exclude)
    lora = read_adapter(adapter_path) if plan.tuned_kind == "adapter" else None
    _check_adapter(adapter_path, plan, lora)
    _check_sizes(plan, opts.scale_options())

    steps = len(plan.pairs) + len(opts.lambdas) + 1
    if progress is not None:
        progress(0, steps, "loading the model and data")
    bench = RepairBench(base_path, adapter_path, data_path, forget_path, opts.text_settings())
    scaled, untouched, warnings = analyse_plan(plan.pairs, opts.scale_options(), progress=progress, total=steps)
    warnings = list(plan.warnings) + warnings
    higher = bench.higher_is_better
    done = len(plan.pairs)
    if scaled:  # binds the rescaled matrices and caches the blocks below them, so every λ is measured alike
        if progress is not None:
            progress(done, steps, "caching the blocks below the first rescaled matrix")
        bench.bind([sm.name for sm in scaled])
    if progress is not None:
        progress(done, steps, "λ = 1 (unscaled)")
    ref = bench.measure()
    unscaled = _point(1.0, ref, ref, opts, higher)
    points: list[LambdaPoint] = []
    if scaled:
        for i, lam in enumerate(opts.lambdas):
            if progress is not None:
                progress(done + 1 + i, steps, f"λ = {lam:g}")
            bench.set_change({sm.name: sm.change(lam) for sm in scaled})
            points.append(_point(lam, bench.measure(), ref, opts, higher))
        bench.set_change({sm.name: None for sm in scaled})
    if progress is not None:
        progress(steps, steps, "")
    chosen = choose_lambda([Point(p.lam, p.quality, p.forgetting) for p in points],
                           Point(1.0, ref.quality, ref.forgetting), opts.max_quality_drop, higher)
    lam = None if chosen is None else chosen.lam
    measure = bench.quality_name.replace("_", " ")
    if not scaled:
        message = (f"no intruder dimension among the top {opts.k} (ε = {opts.epsilon:g}) of any matrix: nothing to "
                   "repair; no adapter written")
    elif lam is None:
        message = (f"no λ of {', '.join(f'{v:g}' for v in opts.lambdas)} lowers forgetting within a "
                   f"{opts.max_quality_drop:g} % {measure} budget; no adapter written")
    else:
        p = next(p for p in points if p.lam == lam)
        message = (f"λ = {lam:g}: forgetting {unscaled.forgetting:+.4f} → {p.forgetting:+.4f} nats/token, "
                   f"{measure} {unscaled.quality:.4f} → {p.quality:.4f} ({p.quality_drop_pct:+.2f} % worse, "
                   f"budget {opts.max_quality_drop:g} %)")
    result = RepairResult(
        version=__version__, base=pair.base_name, adapter=pair.tuned_name, out=str(out_path), data=str(data),
        forget_text=bench.forget_source, objective=bench.objective, quality_measure=bench.quality_name,
        higher_is_better=higher, options=opts, rule=rule_text(opts.max_quality_drop, higher),
        quality_limit=quality_limit(ref.quality, opts.max_quality_drop, higher) if scaled else None,
        base_forget_loss=bench.base_forget_loss, base_quality=bench.base_quality, unscaled=unscaled,
        points=points, chosen=lam, message=message, adapter_written=lam is not None, matrices=scaled,
        untouched=untouched, warnings=warnings)
    del bench
    pairs = {p.name: p for p in plan.pairs}
    with staged_dir(out_path, force=opts.force) as tmp:
        if lam is not None:
            write_adapter_changes(lora, tmp, scaled_changes(scaled, pairs, lam, opts.target))
        result = replace(result, seconds=time.perf_counter() - start)
        atomic_write_text(tmp / REPORT, json.dumps(result.to_json(), indent=1) + "\n")
        _write_page(tmp)
    return result


def _write_page(folder: Path) -> None:
    """OUT/report.html: the report package's page for repair.json (it reads the file, computes nothing)."""
    from lorascope.report.build import build_report

    build_report([folder / REPORT], folder / PAGE, title="lorascope repair: quality and forgetting against λ")
