"""One continual-learning chain: train task after task, merging each fine-tune into the backbone.

Stage 0 is the pretrained model; stage i trains on task i starting from stage i-1 (LoRA: merged into the
backbone, so each task starts a fresh adapter), and is saved as a full LM checkpoint. After every stage,
each task's accuracy is measured with a re-fitted head (headfit), the LM loss on held-out text against
the original base (forgetting), and the chosen matrices are scanned against the ORIGINAL base (similarity
maps, intruders). Every stage is saved as it finishes, so a killed chain resumes at the next stage.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lorascope.atomic import atomic_write_text
from lorascope.errors import InputError
from lorascope.experiments.config import AnalysisOptions
from lorascope.experiments.divergence import run_diverged
from lorascope.experiments.evaluate import load_classifier
from lorascope.experiments.headfit import FrozenBottom, HeadBudget, refit_head_accuracy
from lorascope.experiments.jobs import test_split_facts, trained_matrix_patterns
from lorascope.experiments.rows import scan_rows
from lorascope.training.config import TrainConfig
from lorascope.training.rows import ResultsLog


@dataclass(frozen=True)
class Chain:
    """A continual-learning sequence: the per-stage training settings and what is measured after each stage."""

    name: str
    config: TrainConfig  # task is replaced per stage, model by the previous stage
    tasks: tuple[str, ...]
    budget: HeadBudget
    similarity_modules: tuple[str, ...]  # module types in the top block, e.g. "self_attn.q_proj"
    keep_stages: bool = False  # keep every merged stage checkpoint (else only the last one stays on disk)


def merge_into_lm(previous: Path, checkpoint: Path, num_labels: int, dest: Path) -> Path:
    """Save `previous`'s LM with its backbone replaced by the fine-tune `checkpoint` (LoRA merged) at `dest`."""
    from lorascope.training.modeling import attach_backbone, lm_kind, load_lm, load_tokenizer, quiet_transformers

    kind = lm_kind(previous)
    if kind is None:
        raise InputError(f"{previous}: continual learning saves each stage as an LM checkpoint; "
                         "this model has no LM head")
    tok = load_tokenizer(previous)
    classifier = load_classifier(previous, checkpoint, num_labels, int(tok.pad_token_id))
    if hasattr(classifier, "merge_and_unload"):
        classifier = classifier.merge_and_unload()
    lm = attach_backbone(load_lm(previous, kind), classifier)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        with quiet_transformers():
            lm.save_pretrained(tmp)
            tok.save_pretrained(tmp)
        if dest.exists():
            shutil.rmtree(dest)
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def _similarity_patterns(model_dir: Path, modules: tuple[str, ...]) -> tuple[str, ...]:
    config = json.loads((model_dir / "config.json").read_text())
    top = int(config.get("num_hidden_layers") or config.get("n_layer")) - 1
    return tuple(rf"\.{top}\.{re.escape(m)}\.weight$" for m in modules)


def _tag(chain: Chain, stage: int) -> dict[str, Any]:
    """The columns naming a chain's stage in every row it measures."""
    config = chain.config
    return {"chain": chain.name, "method": config.method, "rank": config.rank if config.method == "lora" else None,
            "alpha": config.resolved_alpha, "lr": config.resolved_lr, "stage": stage,
            "trained_task": chain.tasks[stage - 1] if stage else None}


# TrainConfig fields that change what a chain trains, never how its stage 0 (the pretrained model) is measured
_TRAINING_ONLY = ("task", "method", "rank", "alpha", "lr", "lora_lr_product", "freeze_a", "threads")


def _stage0(chain: Chain, base_dir: Path, analysis: AnalysisOptions,
            cache_dir: str | None) -> dict[str, list[dict[str, Any]]]:
    """Stage 0 measures the pretrained model, the same for every chain of these measurement settings: measured
    once, kept in the cache (`continual/`), and tagged with each chain's name."""
    from lorascope.cache import cache_root
    from lorascope.training.bottom import load_or_compute_record, model_fingerprint

    config = {k: v for k, v in chain.config.to_json().items()
              if k not in _TRAINING_ONLY and not k.startswith("resolved_")}
    settings = {"base": model_fingerprint(base_dir), "config": config, "tasks": list(chain.tasks),
                "budget": dataclasses.asdict(chain.budget), "format": 1}
    key = "stage0-" + hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:24]

    def measure() -> dict[str, Any]:
        tables = _measure(chain, 0, base_dir, base_dir, None, analysis, cache_dir)
        return json.loads(json.dumps(tables, default=str))  # as the cache gives it back to the other chains

    kept = load_or_compute_record(cache_root(cache_dir) / "continual", key, measure, required=("accuracy", "stages"))
    tag = _tag(chain, 0)
    return {name: [{**row, **tag} for row in rows] for name, rows in kept.items()}


def _measure(chain: Chain, stage: int, stage_dir: Path, base_dir: Path, patterns: tuple[str, ...] | None,
             analysis: AnalysisOptions, cache_dir: str | None) -> dict[str, list[dict[str, Any]]]:
    """Every task's re-fitted-head accuracy, forgetting against the base, and (stage > 0) the scan."""
    from lorascope.pipelines.forget import ForgetOptions, forget
    from lorascope.pipelines.scan import ScanOptions, scan

    config = chain.config
    tag = _tag(chain, stage)
    bottom = None
    if config.top_layers is not None and config.cache_bottom:  # every stage trained only the top blocks
        from lorascope.cache import cache_root

        blocks = json.loads((base_dir / "config.json").read_text()).get("num_hidden_layers")
        if blocks and blocks > config.top_layers:
            bottom = FrozenBottom(base_dir, blocks - config.top_layers, cache_root(cache_dir) / "hidden")
    accuracy = [{**tag, "task": task, "task_index": i + 1, "trained": i < stage,
                 "accuracy": refit_head_accuracy(stage_dir, task, config.max_length, config.test_examples,
                                                 chain.budget, config.eval_batch_size, bottom)}
                for i, task in enumerate(chain.tasks)]
    lm_loss = forgetting = None
    if config.forget_chunks:
        options = ForgetOptions(chunks=config.forget_chunks, chunk_length=config.forget_chunk_length,
                                mode=config.forget_mode, context=config.forget_context,
                                text_column=config.forget_text_column)
        lost = forget(stage_dir, base=base_dir if stage else None, text=config.forget_text, cache_dir=cache_dir,
                      options=options)
        lm_loss, forgetting = lost.loss, (lost.forgetting if stage else 0.0)  # stage 0 is the base itself
    tables: dict[str, list[dict[str, Any]]] = {"accuracy": accuracy}
    stage_row = {**tag, "lm_loss": lm_loss, "forgetting": forgetting, "intruders": 0 if not stage else None,
                 "model_dir": str(stage_dir)}
    if stage and patterns:
        options = ScanOptions(k=analysis.k, epsilon=analysis.epsilon, epsilons=tuple(analysis.epsilons),
                              map_size=analysis.map_size, include=patterns, cache_dir=cache_dir)
        found = scan(base_dir, stage_dir, options)
        rows = scan_rows(found, tag, maps=True)
        chosen = _similarity_patterns(base_dir, chain.similarity_modules)
        rows["similarity"] = [r for r in rows["similarity"] if any(re.search(p, r["matrix"]) for p in chosen)]
        tables.update({k: v for k, v in rows.items() if k != "k_fraction_sweep"})
        stage_row["intruders"] = found.total_intruders
    tables["stages"] = [stage_row]
    return tables


def continual_chain(chain: Chain, out_dir: str, analysis: AnalysisOptions,
                    cache_dir: str | None) -> dict[str, list[dict[str, Any]]]:
    """Run (or resume) `chain` in `out_dir`; {table: rows} over every stage."""
    from lorascope.pipelines.train import train
    from lorascope.training.registry import load_task, resolve_model

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    base_dir = resolve_model(chain.config.model, cache_dir)
    previous = base_dir
    parts = []
    for stage in range(len(chain.tasks) + 1):
        stage_dir = base_dir if stage == 0 else out / f"stage-{stage}"
        record = out / f"stage-{stage}.json"
        if record.is_file():  # measured before; the next stage's training needs only this stage's folder
            parts.append(json.loads(record.read_text()))
            previous = stage_dir
            continue
        patterns = None
        if stage:
            run_dir = out / f"train-{stage}"
            if not (stage_dir / "config.json").is_file():
                config = replace(chain.config, model=str(previous), task=chain.tasks[stage - 1])
                result = train(config, run_dir, cache_dir=cache_dir)
                merge_into_lm(previous, run_dir / result.final["checkpoint"],
                              len(load_task(config.task).labels), stage_dir)
            patterns = trained_matrix_patterns(run_dir)
        tables = (_measure(chain, stage, stage_dir, base_dir, patterns, analysis, cache_dir) if stage
                  else _stage0(chain, base_dir, analysis, cache_dir))
        atomic_write_text(record, json.dumps(tables, default=str))
        parts.append(tables)
        if stage >= 2 and not chain.keep_stages:  # recorded, and no longer needed to train the next stage
            shutil.rmtree(out / f"stage-{stage - 1}", ignore_errors=True)
        previous = stage_dir
    for stage, part in enumerate(parts):
        if stage:  # whether this stage's fine-tune learned its task without breaking the LM (its own run's rows)
            config = replace(chain.config, model=str(base_dir), task=chain.tasks[stage - 1])
            facts = test_split_facts(config)
            flag, why = run_diverged(ResultsLog(out / f"train-{stage}" / "results.jsonl").rows,
                                     facts["test_examples"], facts["majority_rate"])
            for row in part.get("stages", []):
                row["diverged"], row["diverged_reason"] = flag, why
    merged: dict[str, list[dict[str, Any]]] = {}
    for part in parts:
        for name, rows in part.items():
            merged.setdefault(name, []).extend(rows)
    return merged


def chain_settings(chain: Chain) -> dict[str, Any]:
    """The settings a chain's ledger key is computed from."""
    settings = dataclasses.asdict(chain)
    settings["config"] = {k: v for k, v in chain.config.to_json().items() if k != "threads"}
    return settings
