"""`reproduce` end to end on a tiny LLaMA: run folders, report with the claims table, claims.json, rerun reuse."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from lorascope.experiments.tables import read_table
from lorascope.recipes.reproduce import PROFILES, ReproduceOptions, reproduce
from lorascope.report.fig_runs import figure_id

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"


@pytest.fixture(scope="module")
def done(tiny, cache_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    overrides = {**tiny, "train": {**tiny["train"], "max_steps": 6}}
    opts = ReproduceOptions(profile="quick", out=out, experiments=EXPERIMENTS, cache_dir=cache_dir,
                            overrides=overrides)
    lines: list[str] = []
    result = reproduce(opts, log=lines.append)
    return opts, result, lines


def test_progress_reports_each_recipe_and_each_evaluation(done):
    _, _, lines = done
    assert [line for line in lines if line.startswith("[") and "profile) …" in line] == [
        f"[{i}/3] {name} (quick profile) …" for i, name in enumerate(PROFILES["quick"], 1)]
    evals = [line for line in lines if "step " in line and "accuracy" in line and "intruders" in line]
    assert len(evals) >= 2 * 7  # every training run reports step 0 and its last step (7 runs in the quick grids)


def test_writes_one_run_folder_per_recipe_a_report_and_claims(done):
    opts, result, _ = done
    assert [p.name for p in result.run_folders] == list(PROFILES["quick"])
    assert all((p / "manifest.json").is_file() for p in result.run_folders)
    claims = json.loads(result.claims_json.read_text())
    assert [c["id"] for c in claims] == [c.id for c in result.claims]
    for c in claims:
        assert set(c) == {"id", "claim", "paper", "measured", "holds", "rule", "note", "figure"}
        assert c["holds"] in (True, False, None) and c["measured"] and c["rule"]
    ids = {c["id"] for c in claims}
    assert {"5.1", "5.2", "5.5", "5.5b", "5.6", "5.7", "5.12", "5.13"} <= ids
    assert {f"5.{i}" for i in range(1, 15)} <= ids  # every §5 claim: measured, or why not
    assert next(c for c in claims if c["id"] == "5.4")["measured"] == "not measurable here"
    toy = next(c for c in claims if c["id"] == "5.13")
    assert toy["holds"] is True


def test_claim_5_1_reads_only_matched_runs_that_did_not_diverge(done):
    _, result, _ = done
    runs = []
    for folder in result.run_folders:
        if folder.name in ("rank_sweep", "lr_sweep"):
            runs += read_table(folder / "tables" / "runs.parquet")
    assert runs and all(r["diverged"] in (True, False, None) for r in runs)
    claim = next(c for c in result.claims if c.id == "5.1")
    assert "quality-matched" in claim.rule and "bootstrap interval" in claim.rule
    if any(r["diverged"] for r in runs):
        assert "diverged run(s) left out" in claim.note
    kept = [r for r in runs if not r["diverged"]]
    if not any(r["method"] == "full" for r in kept) or not any(r["method"] == "lora" for r in kept):
        assert claim.holds is None and "no quality-matched" in claim.note


def test_recipes_share_one_runs_folder_and_train_each_configuration_once(done):
    opts, result, _ = done
    ids: dict[str, set[str]] = {}
    for folder in result.run_folders:
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["runs_dir"] == str(Path(opts.out) / "runs") and not (folder / "runs").exists()
        ids[folder.name] = {r["run_id"] for r in read_table(folder / "tables" / "runs.parquet")}
    trained = {p.name for p in (Path(opts.out) / "runs").iterdir()}
    assert trained == set().union(*ids.values())
    # the quick grids' shared LoRA run (r = 8, lr 1e-2 per seed) is one folder that both recipes read
    assert ids["intervention"] and ids["intervention"] <= ids["rank_sweep"]


def test_report_has_the_claims_table_and_links_to_existing_figures(done):
    _, result, _ = done
    html = result.report.read_text()
    assert html.count('<tr data-claim="') == len(result.claims)
    figure_ids = set(re.findall(r'<figure class="fig" id="fig-([^"]+)"', html))
    for c in result.claims:
        if c.figure is not None and f'href="#fig-{c.figure}"' in html:
            assert c.figure in figure_ids
    assert figure_id("rank_sweep", "fig4_intruders_vs_epsilon") in figure_ids
    assert figure_id("intervention", "table3_percent_changes") in figure_ids
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html


def test_rerun_reuses_every_job_and_gives_the_same_claims(done):
    opts, result, _ = done
    before = result.claims_json.read_text()
    again = reproduce(opts)
    assert again.claims_json.read_text() == before
    for folder in again.run_folders:
        jobs = json.loads((folder / "manifest.json").read_text())["jobs"]
        assert jobs["ran"] == 0 and jobs["reused_from_ledger"] > 0


def test_bad_options_are_input_errors(tmp_path):
    from lorascope.errors import InputError

    with pytest.raises(InputError, match="--profile"):
        ReproduceOptions(profile="medium")
    with pytest.raises(InputError, match="unknown recipe"):
        ReproduceOptions(recipes=("rank_sweep", "nope"))
    with pytest.raises(InputError, match="not found"):
        reproduce(ReproduceOptions(out=tmp_path / "o", experiments=tmp_path))
    assert not (tmp_path / "o").exists()


def test_model_option_sets_every_recipes_model(tiny, cache_dir, tmp_path):
    train = {k: v for k, v in tiny["train"].items() if k != "model"}
    opts = ReproduceOptions(profile="quick", out=tmp_path / "o", experiments=EXPERIMENTS, cache_dir=cache_dir,
                            recipes=("data_size",), overrides={"train": train}, model=tiny["train"]["model"])
    result = reproduce(opts)
    (folder,) = result.run_folders
    assert json.loads((folder / "manifest.json").read_text())["settings"]["train"]["model"] == tiny["train"]["model"]
    assert "5.11" in {c.id for c in result.claims} and opts.overrides == {"train": train}  # options untouched
