"""Fixtures for the report tests: real scans of tiny models, and small synthetic training/monitor/scale files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from peft import LoraConfig

import lorascope
from fixtures import models

BERT_TARGETS = ["query", "key", "value", "dense"]


@pytest.fixture(scope="session")
def scan_dir(tmp_path_factory) -> Path:
    """A folder with two real scans of a tiny BERT: `lora-r4.json` (with a k-fraction sweep) and `full.json`."""
    root = tmp_path_factory.mktemp("scans")
    model = models.build("bert")
    models.save_model(model, root / "models" / "base")
    art = models.make_adapter(model, root / "models" / "adapter",
                              LoraConfig(r=4, lora_alpha=8, target_modules=BERT_TARGETS), seed=3)
    models.save_model(models.perturbed(model, scale=0.02), root / "models" / "full")
    out = root / "out"
    out.mkdir()
    lora = lorascope.scan(root / "models" / "base", art.path, k=6, k_fractions=(0.1, 0.5, 1.0))
    full = lorascope.scan(root / "models" / "base", root / "models" / "full", k=6)
    assert lora.total_intruders > 0
    lora.save_json(out / "lora-r4.json")
    full.save_json(out / "full.json")
    return out


def train_rows() -> list[dict]:
    """Two LoRA runs (two learning rates) with four evaluation points each, in results.jsonl's schema."""
    rows = []
    for run, lr in (("mnli-lora-r8-a", 1e-4), ("mnli-lora-r8-b", 4e-4)):
        for i, (intr, acc, forget) in enumerate([(0, 0.50, 0.0), (2, 0.70, 0.02), (5, 0.78, 0.05), (9, 0.80, 0.11)]):
            bump = 3 if lr > 2e-4 else 0
            rows.append({"run_id": run, "method": "lora", "rank": 8, "alpha": 16.0, "lr": lr, "seed": 0,
                         "task": "mnli", "model": "tiny", "train_layers": "all", "step": 10 * i, "epoch": i / 2,
                         "accuracy": acc + 0.01 * bump, "forgetting": forget * (1 + bump),
                         "lm_loss": 3.0 + forget, "intruders": intr + bump * (i > 0),
                         "train_loss": None if i == 0 else 1.0 / i, "seconds": 5.0 * i, "sec_per_step": None,
                         "eval_seconds": 1.0, "checkpoint": None})
    return rows


def monitor_rows() -> list[dict]:
    """The monitor's JSONL rows for two matrices over five steps; the q matrix grows one intruder."""
    rows = []
    for step in range(0, 50, 10):
        for name in ("model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.down_proj.weight"):
            sigma = [3.0, 2.5, 2.0, 1.5]
            max_cos = [0.99, 0.95, 0.9, 0.85]
            if "q_proj" in name and step >= 20:
                max_cos[2] = 0.2
            rows.append({"step": step, "matrix": name, "sigma": sigma, "max_cos": max_cos,
                         "intruders": sum(c < 0.5 for c in max_cos), "seconds": 0.01})
    return rows


def scale_report(target: str, measured: bool) -> dict:
    """A scale.json with three λ outputs; with `measured`, each output has accuracy and forgetting."""
    outputs = []
    for lam in (0.0, 0.5, 1.0):
        entry = {"lambda": lam, "path": f"lambda-{lam:g}", "matrices": []}
        if measured:
            entry.update(accuracy=0.8 + 0.05 * lam, forgetting=0.02 + 0.1 * lam)
        outputs.append(entry)
    return {"lorascope_version": "0.1.0", "base": "b", "tuned": "t", "tuned_kind": "adapter", "out": "o",
            "output_format": "adapter", "options": {"target": target, "k": 10, "epsilon": 0.5,
                                                    "lambdas": [0.0, 0.5, 1.0]},
            "outputs": outputs, "modified_count": 0, "untouched_count": 0, "untouched": [], "skipped": [],
            "warnings": [], "notes": [], "seconds": 0.1}


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.fixture()
def run_dir(tmp_path) -> Path:
    """A training run folder: config.json (ignored), results.jsonl, a monitor JSONL, and a checkpoint folder."""
    run = tmp_path / "run"
    (run / "checkpoints" / "step-10").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"model": "tiny", "task": "mnli"}))
    (run / "checkpoints" / "step-10" / "adapter_config.json").write_text(json.dumps({"r": 8}))
    write_jsonl(run / "results.jsonl", train_rows())
    write_jsonl(run / "intruders.jsonl", monitor_rows())
    return run


def write_run_folder(folder: Path) -> Path:
    """A small `lorascope run` output folder (manifest + Parquet tables) with an x–y, a heatmap and a table figure."""
    from lorascope.experiments.tables import write_table

    (folder / "tables").mkdir(parents=True)
    sweep = [{"method": method, "rank": rank, "alpha_rule": "2r" if rank else None, "epsilon": eps,
              "intruders": (0 if method == "full" else int(10 * eps) + (rank or 0))}
             for method, rank in (("full", None), ("lora", 1), ("lora", 8)) for eps in (0.1, 0.3, 0.5, 0.7, 0.9)]
    similarity = [{"chain": "lora-r8", "stage": stage, "base_index": i, "tuned_index": j,
                   "cos": 1.0 if i == j and not (stage == 2 and j == 1) else 0.05}
                  for stage in (1, 2) for i in range(4) for j in range(4)]
    intervention = [{"target": "top-intruder", "lambda": lam, "accuracy_change_pct": 0.1 * lam,
                     "forgetting_change_pct": -30.0 * (1 - lam)} for lam in (0.0, 0.5, 0.7, 1.0)]
    tables = {"epsilon_sweep": sweep, "similarity": similarity, "intervention": intervention}
    for name, rows in tables.items():
        write_table(folder / "tables" / f"{name}.parquet", rows)
    manifest = {
        "lorascope_version": "test", "recipe": "rank_sweep", "description": "a synthetic sweep", "profile": "quick",
        "tables": {name: {"path": f"tables/{name}.parquet", "rows": len(rows)} for name, rows in tables.items()},
        "figures": {
            "fig4_intruders_vs_epsilon": {"table": "epsilon_sweep", "x": "epsilon", "y": "intruders",
                                          "series": ["method", "rank"]},
            "fig9bc_similarity_maps": {"table": "similarity", "x": "tuned_index", "y": "base_index", "value": "cos",
                                       "facet": ["chain", "stage"]},
            "table3_percent_changes": {"table": "intervention",
                                       "columns": ["lambda", "accuracy_change_pct", "forgetting_change_pct"]},
        },
    }
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder
