"""The jobs recipes run through lorascope.executor: module-level functions of picklable arguments.

Each returns {table name: rows}; the experiment runner records that in the ledger and concatenates it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lorascope.experiments.config import AnalysisOptions
from lorascope.experiments.rows import scan_rows
from lorascope.training.config import TrainConfig

if TYPE_CHECKING:
    from lorascope.pipelines.train import TrainEvent

RUN_COLUMNS = ("method", "rank", "alpha", "lr", "seed", "task", "model", "train_layers")

# Where jobs running in this process report progress (set by Context for the local executor; None on Ray
# workers, whose tasks Ray itself reports). A module-level hook, because jobs are plain picklable calls.
progress_sink: Callable[[str], None] | None = None


def _train_progress(label: str) -> Callable[[TrainEvent], None] | None:
    """Training events as log lines: set-up messages and each evaluation (not every step)."""
    sink = progress_sink
    if sink is None:
        return None

    def report(event: TrainEvent) -> None:
        if event.kind == "info" and event.message:
            sink(f"  {label}: {event.message}")
        elif event.kind == "eval" and event.row:
            row = event.row
            metric = row.get("quality_metric") or "accuracy"
            sink(f"  {label}: step {event.step}/{event.total}  {metric} {_num(row.get(metric))}  "
                 f"forgetting {_num(row.get('forgetting'))}  intruders {row.get('intruders')}")

    return report


def _num(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, (int, float)) else str(value)


def run_tag(config: TrainConfig, run_id: str) -> dict[str, Any]:
    """The columns that name a run in every table: its id and its main settings."""
    return {"run_id": run_id, "method": config.method,
            "rank": config.rank if config.method == "lora" else None, "alpha": config.resolved_alpha,
            "lr": config.resolved_lr, "seed": config.seed, "task": config.task_name, "model": config.model,
            "freeze_a": config.freeze_a}


def trained_matrix_patterns(run_dir: Path) -> tuple[str, ...]:
    """One regex matching exactly the weights a run trained (from its config.json)."""
    names = json.loads((run_dir / "config.json").read_text())["trained_matrices"]
    return ("^(?:" + "|".join(re.escape(n) for n in names) + r")\.weight$",)


def test_split_facts(config: TrainConfig) -> dict[str, Any]:
    """Size and majority-class rate of the run's test split (what the divergence rule compares accuracy with)."""
    from lorascope.evidence.divergence import majority_rate
    from lorascope.pipelines.train import load_run_task

    test = load_run_task(config).test[:config.test_examples]
    labelled = config.objective == "classify"
    return {"test_examples": len(test), "majority_rate": majority_rate([label for _, label in test]) if labelled
            else None}


def train_and_scan(config: TrainConfig, run_dir: str, analysis: AnalysisOptions,
                   cache_dir: str | None) -> dict[str, list[dict[str, Any]]]:
    """Train (or resume, or reuse) one run, then scan its final checkpoint: runs, evals and scan tables."""
    from lorascope.pipelines.scan import ScanOptions, scan
    from lorascope.pipelines.train import train
    from lorascope.training.registry import resolve_model

    out = Path(run_dir)
    result = train(config, out, cache_dir=cache_dir, progress=_train_progress(out.name))
    tag = run_tag(config, result.run_id)
    final = result.final
    tables: dict[str, list[dict[str, Any]]] = {
        "runs": [{**tag, "steps": final["step"], "epochs": final["epoch"],
                  "quality_metric": final["quality_metric"], "accuracy": final["accuracy"],
                  "task_loss": final["task_loss"], "task_perplexity": final["task_perplexity"],
                  "forgetting": final["forgetting"], "lm_loss": final["lm_loss"],
                  "intruders": final["intruders"], "seconds": final["seconds"],
                  "run_dir": str(out), "checkpoint": str(out / final["checkpoint"]),
                  **test_split_facts(config)}],
        "evals": [{**tag, **{k: v for k, v in row.items() if k not in tag}} for row in result.rows],
    }
    if analysis.scan:
        options = ScanOptions(k=analysis.k, epsilon=analysis.epsilon, epsilons=tuple(analysis.epsilons),
                              k_fractions=tuple(analysis.k_fractions) or None, map_size=analysis.map_size,
                              include=trained_matrix_patterns(out), cache_dir=cache_dir)
        found = scan(resolve_model(config.model, cache_dir), out / final["checkpoint"], options)
        tables.update(scan_rows(found, {**tag, "step": final["step"]}, maps=True))
        tables["runs"][0]["scan_intruders"] = found.total_intruders
    return tables


def scale_and_evaluate(config: TrainConfig, checkpoint: str, target: str, lambdas: list[float],
                       include: tuple[str, ...], out_dir: str, analysis: AnalysisOptions,
                       cache_dir: str | None,
                       reference: dict[str, Any] | None = None) -> dict[str, list[dict[str, Any]]]:
    """Scale a run's intruders (one target, every λ), then measure every scaled model and, unless `reference`
    gives them (the run's own final evaluation of `checkpoint`, measured the same way), the unscaled one."""
    from lorascope.experiments.evaluate import TaskEvaluator
    from lorascope.pipelines.scale import ScaleOptions, scale
    from lorascope.pipelines.train import run_id_of

    evaluator = TaskEvaluator(config, cache_dir)
    options = ScaleOptions(target=target, k=analysis.k, epsilon=analysis.epsilon, force=True, include=include,
                           cache_dir=cache_dir)
    Path(out_dir).parent.mkdir(parents=True, exist_ok=True)
    result = scale(evaluator.model_dir, checkpoint, out_dir, lambdas, options)
    reference = reference if reference is not None else evaluator.measure(checkpoint)
    tag = {**run_tag(config, run_id_of(config)), "target": target}
    rows = []
    for lam, sub in result.outputs.items():
        measured = evaluator.measure(Path(out_dir) / sub)
        rows.append({**tag, "lambda": lam, **measured, "scaled_matrices": len(result.matrices),
                     "reference_accuracy": reference["accuracy"], "reference_task_loss": reference["task_loss"],
                     "reference_forgetting": reference["forgetting"],
                     "reference_lm_loss": reference["lm_loss"], "base_lm_loss": evaluator.base_loss,
                     "output": str(Path(out_dir) / sub)})
    return {"intervention": rows}
