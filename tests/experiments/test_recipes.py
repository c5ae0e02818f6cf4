"""Each recipe's quick profile on a tiny LLaMA: the shapes and invariants of its tables, ledger skip, resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from lorascope.experiments import context
from lorascope.experiments.jobs import train_and_scan
from lorascope.experiments.tables import read_table
from lorascope.recipes.run import run_experiment

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@pytest.fixture(scope="module", autouse=True)
def jobs_travel_pickled():
    """Every job goes through pickle before it runs, as it would to a Ray worker (module-level functions,
    picklable arguments), and must come back equal."""
    real = context.run_jobs

    def pickled(jobs, executor="local", **kwargs):
        import pickle

        copies = [pickle.loads(pickle.dumps(job)) for job in jobs]
        assert [(c.key, c.fn, c.args) for c in copies] == [(j.key, j.fn, j.args) for j in jobs]
        return real(copies, executor, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(context, "run_jobs", pickled)
        yield


def quick(name: str, out: Path, tiny: dict, cache_dir: Path, **extra):
    overrides = {section: dict(values) for section, values in tiny.items()}
    for section, values in extra.items():
        overrides.setdefault(section, {}).update(values)
    return run_experiment(EXPERIMENTS / f"{name}.toml", "quick", out, overrides=overrides, cache_dir=cache_dir)


# The quick profiles run three seeds (tests/experiments/test_seeded_recipes.py covers that); the table shapes
# and invariants here need one, which keeps these tiny runs few.
ONE_SEED = {"seeds": [0]}


def tables(result) -> dict[str, list[dict]]:
    """The result's tables, after checking that every figure spec names columns its table has."""
    found = {name: read_table(result.table_path(name)) for name in result.manifest["tables"]}
    for figure, spec in result.manifest["figures"].items():
        columns = set(result.manifest["tables"][spec["table"]]["columns"])
        named = [spec[k] for k in ("x", "y", "value", "baseline", "error") if k in spec]
        for k in ("series", "facet", "columns"):
            value = spec.get(k, [])
            named += [value] if isinstance(value, str) else value
        assert found[spec["table"]] and set(named) <= columns, (figure, set(named) - columns)
    return found


@pytest.fixture(scope="module")
def rank_sweep(tiny, cache_dir, tmp_path_factory):
    return quick("rank_sweep", tmp_path_factory.mktemp("rank_sweep"), tiny, cache_dir, train={"max_steps": 8},
                 grid=ONE_SEED)


def test_rank_sweep_tables(rank_sweep):
    t = tables(rank_sweep)
    grid = rank_sweep.manifest["settings"]["grid"]
    expected = len(grid["full_lrs"]) + len(grid["ranks"]) * len(grid["alphas"]) * len(grid["lr_products"])
    assert len(t["runs"]) == expected == rank_sweep.ran
    assert {r["method"] for r in t["runs"]} == {"full", "lora"}
    for name, info in rank_sweep.manifest["tables"].items():
        assert info["rows"] == len(t[name]) and (rank_sweep.out / info["path"]).is_file()
    analysis = rank_sweep.manifest["settings"]["analysis"]
    for run in t["runs"]:
        sweep = sorted((r["epsilon"], r["intruders"]) for r in t["epsilon_sweep"] if r["run_id"] == run["run_id"])
        assert [e for e, _ in sweep] == sorted(analysis["epsilons"])
        counts = [n for _, n in sweep]
        assert counts == sorted(counts)  # intruder iff max|cos| < ε: a larger ε never finds fewer
        fractions = sorted((r["k_fraction"], r["intruders"]) for r in t["k_fraction_sweep"]
                           if r["run_id"] == run["run_id"])
        assert [f for f, _ in fractions] == sorted(analysis["k_fractions"])
        assert [n for _, n in fractions] == sorted(n for _, n in fractions)
        # the training-time probe and the final scan are separate code paths measuring the same thing
        assert run["scan_intruders"] == run["intruders"]
        mats = [m for m in t["matrices"] if m["run_id"] == run["run_id"]]
        assert len(mats) == 14  # 7 matrices in each of the top 2 blocks
        assert sum(m["intruders"] for m in mats) == run["scan_intruders"]
        if run["method"] == "lora":  # ΔW = s·B·A has rank ≤ r, so its effective rank too
            assert all(0 < m["effective_rank"] <= run["rank"] + 1e-6 for m in mats)
    assert any(r["intruders"] > 0 for r in t["runs"] if r["method"] == "lora")


def test_rerun_skips_finished_runs(rank_sweep, tiny, cache_dir):
    again = quick("rank_sweep", rank_sweep.out, tiny, cache_dir, train={"max_steps": 8}, grid=ONE_SEED)
    assert again.ran == 0 and again.reused == rank_sweep.ran
    assert tables(again) == tables(rank_sweep)


_CALLS: list[str] = []


def _dies_on_second_call(*args):
    """train_and_scan, except that the sweep is killed during its second run (module-level: picklable)."""
    _CALLS.append(args[1])
    if len(_CALLS) == 2:
        raise KeyboardInterrupt
    return train_and_scan(*args)


def test_killed_sweep_resumes(tiny, cache_dir, tmp_path, monkeypatch):
    _CALLS.clear()
    monkeypatch.setattr(context, "train_and_scan", _dies_on_second_call)
    with pytest.raises(KeyboardInterrupt):
        quick("rank_sweep", tmp_path, tiny, cache_dir, train={"max_steps": 4}, grid={"ranks": [1], **ONE_SEED})
    assert len(list((tmp_path / "ledger").glob("*.json"))) == 1 and not (tmp_path / "manifest.json").exists()
    monkeypatch.setattr(context, "train_and_scan", train_and_scan)
    resumed = quick("rank_sweep", tmp_path, tiny, cache_dir, train={"max_steps": 4}, grid={"ranks": [1], **ONE_SEED})
    assert resumed.reused == 1 and resumed.ran == 1
    assert len(read_table(resumed.table_path("runs"))) == 2


def test_lr_sweep_correlations(tiny, cache_dir, tmp_path):
    result = quick("lr_sweep", tmp_path, tiny, cache_dir, train={"train_examples": 32, "max_steps": None, "epochs": 2},
                   grid=ONE_SEED)
    t = tables(result)
    points = [r for r in t["evals"] if r["step"] > 0]
    grid = result.manifest["settings"]["grid"]
    runs = len(grid["lora_lrs"]) + len(grid["full_lrs"])
    assert len(t["runs"]) == runs and len(points) == runs * result.manifest["settings"]["train"]["epochs"]
    assert all(isinstance(r["diverged"], bool) for r in t["runs"])  # the tiny model's runs get a flag
    assert {r["run_id"]: r["diverged"] for r in t["evals"]} == {r["run_id"]: r["diverged"] for r in t["runs"]}
    counted = [r for r in points if not r["diverged"]]  # diverged runs' evaluations are left out
    left_out = sum(r["diverged"] for r in t["runs"])
    assert {(c["y"], c["n"], c["diverged_left_out"]) for c in t["correlations"]} == {
        ("forgetting", len(counted), left_out), ("accuracy", len(counted), left_out)}
    for c in t["correlations"]:
        if c["rho"] is None:
            assert c["note"]
        else:
            assert -1 <= c["rho"] <= 1 and 0 <= c["p"] <= 1


def test_intervention_lambda_one_is_the_unscaled_model(tiny, cache_dir, tmp_path):
    # λ = 1 (the unscaled model) and the whole-update target are outside the quick grid; their identities are checked
    targets = ["top-intruder", "neighbour", "whole-update"]
    result = quick("intervention", tmp_path, tiny, cache_dir, train={"max_steps": 8},
                   grid={**ONE_SEED, "lambdas": [0.0, 0.7, 1.0], "targets": targets})
    rows = tables(result)["intervention"]
    grid = result.manifest["settings"]["grid"]
    assert len(rows) == len(grid["targets"]) * len(grid["lambdas"])
    assert {r["target"] for r in rows} == set(grid["targets"])
    run = tables(result)["runs"][0]
    step0 = [e for e in tables(result)["evals"] if e["step"] == 0]
    for r in rows:
        assert r["base_lm_loss"] == step0[0]["lm_loss"]  # one base LM loss, kept in the cache for train and here
        # the unscaled model measured here is the run's own final model
        assert r["reference_accuracy"] == pytest.approx(run["accuracy"])
        assert r["reference_lm_loss"] == pytest.approx(run["lm_loss"])
        if r["lambda"] == 1.0:  # measured here by the evaluator; the reference is train's own final evaluation
            assert r["accuracy"] == r["reference_accuracy"] and r["lm_loss"] == pytest.approx(r["reference_lm_loss"])
            assert r["accuracy_change_pct"] == 0 and r["forgetting_change_pct"] == pytest.approx(0, abs=1e-6)
        if r["target"] == "whole-update" and r["lambda"] == 0.0:
            assert r["forgetting"] == pytest.approx(0, abs=1e-6)  # W0 everywhere: the base backbone
        if r["accuracy_change_pct"] is not None:
            assert r["accuracy_change_pct"] == pytest.approx(
                100 * (r["accuracy"] - r["reference_accuracy"]) / r["reference_accuracy"])
    assert any(r["scaled_matrices"] > 0 for r in rows if r["target"] == "top-intruder")


def test_seeds_spread(tiny, cache_dir, tmp_path):
    result = quick("seeds", tmp_path, tiny, cache_dir, train={"max_steps": 6})
    t = tables(result)
    grid = result.manifest["settings"]["grid"]
    assert len(t["runs"]) == len(grid["ranks"]) * len(grid["seeds"])
    assert len({r["run_id"] for r in t["runs"]}) == len(t["runs"])
    for s in t["spread"]:
        at = [r for r in t["epsilon_sweep"] if r["rank"] == s["rank"] and r["epsilon"] == s["epsilon"]]
        counts = [r["intruders"] for r in at if r["diverged"] is not True]  # diverged seeds are left out, counted
        assert s["n"] == len(counts) and s["n"] + s["diverged_left_out"] == len(grid["seeds"])
        if counts:
            assert (s["min"], s["max"]) == (min(counts), max(counts)) and s["min"] <= s["mean"] <= s["max"]


def test_data_size_trains_each_rank_on_each_fraction(tiny, cache_dir, tmp_path):
    result = quick("data_size", tmp_path, tiny, cache_dir)
    t = tables(result)
    grid = result.manifest["settings"]["grid"]
    total = result.manifest["settings"]["train"]["train_examples"]
    assert sorted((r["rank"], r["fraction"]) for r in t["runs"]) == sorted(
        (rank, f) for rank in grid["ranks"] for f in grid["fractions"])
    for row in t["runs"]:
        assert row["train_examples"] == round(row["fraction"] * total)
        config = json.loads((Path(row["run_dir"]) / "config.json").read_text())
        assert config["task"]["train_examples"] == row["train_examples"]  # the run really trained on its share
        batch = config["config"]["batch_size"]
        assert row["steps"] == row["train_examples"] // batch * config["config"]["epochs"]
        assert isinstance(row["diverged"], bool)


def test_only_b_keeps_a_semi_orthogonal(tiny, cache_dir, tmp_path):
    result = quick("only_b", tmp_path, tiny, cache_dir, train={"max_steps": 6})
    t = tables(result)
    assert {(r["rank"], r["freeze_a"]) for r in t["runs"]} == {(1, False), (1, True), (8, False), (8, True)}
    for run in t["runs"]:
        weights = load_file(Path(run["checkpoint"]) / "adapter_model.safetensors")
        a = [w.double() for k, w in weights.items() if "lora_A" in k]
        b = [w for k, w in weights.items() if "lora_B" in k]
        assert a and all(w.abs().sum() > 0 for w in b)  # B trained in both
        orthonormal = [torch.allclose(w @ w.T, torch.eye(w.shape[0], dtype=torch.float64), atol=1e-6) for w in a]
        assert all(orthonormal) if run["freeze_a"] else not any(orthonormal)
    comparison = t["comparison"]
    assert len(comparison) == 2 * len(result.manifest["settings"]["analysis"]["epsilons"])
    assert all(c["lora_intruders"] is not None and c["only_b_intruders"] is not None for c in comparison)
    for run in t["runs"]:  # standard runs keep the ids they had before freeze_a existed
        config = json.loads((Path(run["run_dir"]) / "config.json").read_text())["config"]
        assert config.get("freeze_a", "absent") == (True if run["freeze_a"] else "absent")


def test_continual_every_stage_measures_every_task(tiny, cache_dir, tmp_path, monkeypatch):
    from lorascope.experiments import continual
    from lorascope.experiments.divergence import run_diverged
    from lorascope.experiments.jobs import test_split_facts
    from lorascope.training.config import TrainConfig
    from lorascope.training.rows import ResultsLog

    small = {"train": {"max_steps": 4}, "grid": {"head_examples": 32, "head_steps": 20}}
    real = continual.refit_head_accuracy
    calls: list[Path] = []

    def counted(model_dir, *args, **kwargs):
        calls.append(Path(model_dir))
        if Path(model_dir).name == "stage-2" and kill:
            raise KeyboardInterrupt
        return real(model_dir, *args, **kwargs)

    monkeypatch.setattr(continual, "refit_head_accuracy", counted)
    kill = True
    with pytest.raises(KeyboardInterrupt):  # killed while measuring the first chain's second stage
        quick("continual", tmp_path, tiny, cache_dir, **small)
    killed_chain = calls[-1].parent
    calls.clear()
    kill = False
    result = quick("continual", tmp_path, tiny, cache_dir, **small)
    # the stages measured before the kill come from their records: only stages 2.. of that chain ran again
    t = tables(result)
    grid = result.manifest["settings"]["grid"]
    again = sorted({p.name for p in calls if p.parent == killed_chain})
    assert again == [f"stage-{i}" for i in range(2, len(grid["tasks"]) + 1)]
    # stage 0 (the pretrained model) was measured once, by the first chain; the others read it from the cache
    assert not [p for p in calls if not p.name.startswith("stage-")]
    naming = ("chain", "method", "rank", "alpha", "lr")
    stage0 = {name: sorted(({k: v for k, v in r.items() if k not in naming} for r in t[name] if r["stage"] == 0),
                           key=lambda r: sorted((k, str(v)) for k, v in r.items()))
              for name in ("accuracy", "stages")}
    chains0 = {r["chain"] for r in t["stages"] if r["stage"] == 0}
    assert len(chains0) >= 2 and all(len(rows) % len(chains0) == 0 for rows in stage0.values())
    for rows in stage0.values():  # the same measurement under every chain's name
        per_chain = len(rows) // len(chains0)
        assert all(rows[i] == rows[i - i % len(chains0)] for i in range(len(rows))) and per_chain >= 1
    tasks, chains = grid["tasks"], {r["chain"] for r in t["stages"]}
    assert len(tasks) >= 3 and len(chains) == int(grid["full"]) + len(grid["ranks"])
    for chain in chains:
        for stage in range(len(tasks) + 1):
            rows = [r for r in t["accuracy"] if r["chain"] == chain and r["stage"] == stage]
            assert sorted(r["task"] for r in rows) == sorted(tasks)  # a row for every task at every stage
            assert all(0 <= r["accuracy"] <= 1 and r["trained"] == (tasks.index(r["task"]) < stage) for r in rows)
            maps = [r for r in t["similarity"] if r["chain"] == chain and r["stage"] == stage]
            n = result.manifest["settings"]["analysis"]["map_size"]
            assert len(maps) == (0 if stage == 0 else len(grid["similarity_modules"]) * n * n)
            assert all(0 <= r["cos"] <= 1 + 1e-6 for r in maps)
        stages = sorted((r["stage"], r) for r in t["stages"] if r["chain"] == chain)
        assert [s for s, _ in stages] == list(range(len(tasks) + 1)) and stages[0][1]["forgetting"] == 0
        # the merged stage-1 backbone carries exactly the first fine-tune: the scan of the merged
        # checkpoint finds the intruders the training probe found in the adapter / fine-tuned weights
        chain_dir = Path(stages[1][1]["model_dir"]).parent
        final = json.loads((chain_dir / "train-1" / "results.jsonl").read_text().splitlines()[-1])
        assert stages[1][1]["intruders"] == final["intruders"]
        # every trained stage carries the divergence verdict of its own fine-tune (its run's rows, its test split)
        for stage, row in stages[1:]:
            config = json.loads((chain_dir / f"train-{stage}" / "config.json").read_text())
            facts = test_split_facts(TrainConfig(**{k: v for k, v in config["config"].items()
                                                    if not k.startswith("resolved_")}))
            rows = ResultsLog(chain_dir / f"train-{stage}" / "results.jsonl").rows
            expected = run_diverged(rows, facts["test_examples"], facts["majority_rate"])
            assert (row["diverged"], row["diverged_reason"]) == expected and row["diverged"] in (True, False)
        kept = sorted(p.name for p in chain_dir.glob("stage-*") if p.is_dir())
        assert kept == [f"stage-{len(tasks)}"]  # earlier merged models are deleted once recorded


def test_cli_reruns_through_the_ledger(rank_sweep, tiny, cache_dir, capsys):
    from lorascope.cli import main

    sets = [f"train.{k}={json.dumps(v)}" for k, v in {**tiny["train"], "max_steps": 8}.items()] + ["grid.seeds=[0]"]
    args = ["run", str(EXPERIMENTS / "rank_sweep.toml"), "--profile", "quick", "--out", str(rank_sweep.out),
            "--cache-dir", str(cache_dir), "-q"]
    for item in sets:
        args += ["--set", item]
    assert main(args) == 0
    line = capsys.readouterr().out
    assert f"0 job(s) ran, {rank_sweep.ran} reused" in line and "runs (" in line


def test_head_inputs_from_the_cached_bottom_equal_the_full_forward(tiny_llama, cache_dir, tmp_path):
    from transformers import AutoModelForSequenceClassification

    from lorascope.experiments.continual import merge_into_lm
    from lorascope.experiments.headfit import FrozenBottom, head_inputs
    from lorascope.pipelines.train import TrainConfig, train
    from lorascope.training.data import encode
    from lorascope.training.modeling import load_tokenizer
    from lorascope.training.registry import load_task

    config = TrainConfig(model=str(tiny_llama), task="hoc_party", train_layers="top:1", max_length=32,
                         train_examples=32, test_examples=16, batch_size=8, max_steps=4, forget_chunks=0, lr=1e-2)
    run = train(config, tmp_path / "run", cache_dir=cache_dir)
    stage = merge_into_lm(tiny_llama, tmp_path / "run" / run.final["checkpoint"], 2, tmp_path / "stage")
    tok = load_tokenizer(stage)
    data = encode(tok, load_task("hoc_party").test[:16], 32)
    model = AutoModelForSequenceClassification.from_pretrained(stage, num_labels=2, pad_token_id=tok.pad_token_id)
    model.eval()
    full = head_inputs(model, data, tok.pad_token_id, 8)
    bottom = FrozenBottom(tiny_llama, 2, cache_dir / "hidden")
    cached = head_inputs(model, data, tok.pad_token_id, 8, bottom.start, bottom.cache(data, 32, 8))
    assert full.shape == (16, 32) and torch.allclose(full, cached, atol=1e-5)
    # the merged stage differs from the base in the trained top block only
    base = AutoModelForSequenceClassification.from_pretrained(tiny_llama, num_labels=2, pad_token_id=tok.pad_token_id)
    assert not torch.allclose(head_inputs(base.eval(), data, tok.pad_token_id, 8), full, atol=1e-5)


TIMING = ("seconds", "sec_per_step", "eval_seconds", "run_dir", "checkpoint")


@pytest.mark.slow
def test_ray_executor_gives_the_local_tables(tiny, cache_dir, tmp_path, ray_cluster):
    local = quick("seeds", tmp_path / "local", tiny, cache_dir, train={"max_steps": 4})
    overrides = {"train": {**tiny["train"], "max_steps": 4}}
    ray = run_experiment(EXPERIMENTS / "seeds.toml", "quick", tmp_path / "ray", overrides=overrides,
                         cache_dir=cache_dir, executor="ray")
    assert ray.ran == local.ran
    for name, rows in tables(local).items():
        theirs = tables(ray)[name]
        assert len(theirs) == len(rows)
        for a, b in zip(rows, theirs, strict=True):
            a, b = ({k: v for k, v in r.items() if k not in TIMING} for r in (a, b))
            assert a.keys() == b.keys()
            for k in a:
                assert b[k] == (pytest.approx(a[k], rel=1e-4, abs=1e-6) if isinstance(a[k], float) else a[k]), k


def test_rank_sweep_seeds_train_every_run_at_each_seed(tiny, cache_dir, tmp_path):
    result = quick("rank_sweep", tmp_path, tiny, cache_dir, train={"max_steps": 2},
                   grid={"ranks": [2], "seeds": [0, 1, 2]})
    runs = read_table(result.table_path("runs"))
    assert sorted((r["method"], r["seed"]) for r in runs) == sorted(
        (method, seed) for method in ("full", "lora") for seed in (0, 1, 2))
    assert len({r["run_id"] for r in runs}) == 6
