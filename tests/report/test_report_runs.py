"""Run folders in the report: the figure data drawn from recipe specs, the claims rules, and the claims table."""

from __future__ import annotations

import json

import pytest

from lorascope.errors import InputError
from lorascope.report import build_report
from lorascope.report.claims import (
    Claim,
    evaluate_claims,
    every_claim,
    full_has_none,
    scaling_reduces_forgetting,
    toy_spike,
)
from lorascope.report.data import RunData
from lorascope.report.fig_runs import figure_id, run_figures
from lorascope.report.load import load_inputs
from lorascope.report.spec import Heatmap, TablePanel, XYPanel
from report.conftest import write_run_folder


def _run(recipe: str, **tables) -> RunData:
    return RunData(path=None, label=recipe, recipe=recipe, profile="quick", description="", figures={},  # type: ignore[arg-type]
                   tables={k: tuple(v) for k, v in tables.items()})


def test_run_folder_figures_follow_their_specs(tmp_path):
    inputs = load_inputs([write_run_folder(tmp_path / "sweep")])
    assert [r.recipe for r in inputs.runs] == ["rank_sweep"] and not inputs.scans
    figures = {f.id: f for f in run_figures(inputs.runs)}
    xy = figures[figure_id("sweep", "fig4_intruders_vs_epsilon")]
    (panel,) = xy.panels
    assert isinstance(panel, XYPanel) and len(panel.series) == 3  # full, LoRA r=1, LoRA r=8
    rows = inputs.runs[0].rows("epsilon_sweep")
    assert [s.name for s in panel.series] == ["method full", "method lora, rank 1", "method lora, rank 8"]
    for s, (method, rank) in zip(panel.series, [("full", None), ("lora", 1), ("lora", 8)], strict=True):
        mine = sorted((r["epsilon"], r["intruders"]) for r in rows if r["method"] == method and r["rank"] == rank)
        assert list(zip(s.x, s.y, strict=True)) == [(float(e), float(i)) for e, i in mine]
    maps = figures[figure_id("sweep", "fig9bc_similarity_maps")].panels
    assert [type(p) for p in maps] == [Heatmap, Heatmap]
    assert maps[0].values[1][1] == 1.0 and maps[1].values[1][1] == 0.05  # stage 2 lost its second diagonal cell
    (table,) = figures[figure_id("sweep", "table3_percent_changes")].panels
    assert isinstance(table, TablePanel) and table.columns == ("lambda", "accuracy_change_pct", "forgetting_change_pct")
    assert len(table.rows) == 4 and table.rows[0] == ("0", "0", "-30")


def test_diverged_runs_are_drawn_apart_as_hollow_points():
    from lorascope.report.svg_xy import render_xy

    rows = [{"run_id": rid, "method": "lora", "rank": 8, "epsilon": eps, "intruders": n, "diverged": bad}
            for rid, bad, n in (("good", False, 2), ("bad", True, 37)) for eps in (0.5, 0.9)]
    run = RunData(path=None, label="rs", recipe="rank_sweep", profile="quick", description="",  # type: ignore[arg-type]
                  figures={"fig4": {"table": "epsilon_sweep", "x": "epsilon", "y": "intruders", "series": ["rank"]}},
                  tables={"epsilon_sweep": tuple(rows)})
    ((panel,),) = [f.panels for f in run_figures([run])]
    assert [(s.name, s.hollow, s.y) for s in panel.series] == [("rank 8", False, (2.0, 2.0)),
                                                               ("rank 8 (diverged)", True, (37.0, 37.0))]
    svg = render_xy(panel)
    assert svg.count('fill="none" stroke=') == 2 and svg.count('class="line"') == 1


def test_broken_run_folders_are_input_errors_naming_the_file(tmp_path):
    folder = write_run_folder(tmp_path / "sweep")
    (folder / "tables" / "intervention.parquet").write_bytes(b"not parquet")
    with pytest.raises(InputError, match="intervention.parquet"):
        load_inputs([folder])
    (folder / "tables" / "intervention.parquet").unlink()
    with pytest.raises(InputError, match="missing"):
        load_inputs([folder])
    (folder / "manifest.json").write_text(json.dumps({"recipe": "x", "tables": [], "figures": {}}))
    with pytest.raises(InputError, match="manifest.json: field 'tables'"):
        load_inputs([folder])


def _matched_sweep(full_counts, lora_counts, full_acc=0.80, lora_acc=0.81, **extra) -> RunData:
    """A rank_sweep whose full and LoRA runs (one per seed) end at the given accuracies and intruder counts."""
    runs, sweep = [], []
    for method, counts, acc in (("full", full_counts, full_acc), ("lora", lora_counts, lora_acc)):
        for seed, count in enumerate(counts):
            run_id = f"{method}-s{seed}"
            runs.append({"run_id": run_id, "method": method, "rank": 8 if method == "lora" else None,
                         "alpha": 16.0, "lr": 1e-3, "seed": seed, "task": "t", "model": "m",
                         "alpha_rule": "2r" if method == "lora" else None, "quality_metric": "accuracy",
                         "accuracy": acc, "diverged": False, **extra.get(run_id, {})})
            sweep += [{"run_id": run_id, "method": method, "rank": runs[-1]["rank"], "epsilon": eps,
                       "intruders": count if eps == 0.5 else 7} for eps in (0.5, 0.9)]
    return _run("rank_sweep", runs=runs, epsilon_sweep=sweep)


def test_full_fine_tuning_claim_reads_the_interval_over_matched_runs():
    assert full_has_none([_matched_sweep([0, 0, 0], [3, 4, 5])]).holds is True
    assert full_has_none([_matched_sweep([3, 4, 5], [3, 4, 5])]).holds is False
    claim = full_has_none([_matched_sweep([0, 0, 3], [3, 4, 5])])
    assert claim.holds is None and "CI [" in claim.measured  # the interval straddles 1
    claim = full_has_none([_matched_sweep([0], [3])])
    assert claim.holds is None and "needs ≥ 3" in claim.note  # one seed: no interval
    assert full_has_none([_run("continual")]) is None  # not covered: no claim at all


def test_claims_compare_only_quality_matched_runs_and_say_why_none_matched():
    claim = full_has_none([_matched_sweep([0, 0, 0], [3, 4, 5], lora_acc=0.85)])  # 5 points apart
    assert claim.holds is None and "no quality-matched" in claim.note and "full 0.8" in claim.note
    claim = full_has_none([_matched_sweep([0, 0, 0], [3, 4, 5], lora_acc=0.819)])  # 1.9 points: matched
    assert claim.holds is True and "accuracy 0.819 vs full 0.8" in claim.measured
    assert "2 accuracy points" in claim.rule


def test_diverged_runs_are_left_out_of_the_claims_and_named_in_the_note():
    bad = {f"lora-s{i}": {"diverged": True} for i in range(3)}
    lora = _matched_sweep([0, 0, 0], [3, 4, 5], **bad)
    (claim,) = [c for c in evaluate_claims([lora]) if c.id == "5.2"]
    assert claim.holds is None and "3 diverged run(s) left out" in claim.note and "lora-s0" in claim.note
    (claim,) = [c for c in evaluate_claims([_matched_sweep([0, 0, 0], [3, 4, 5])]) if c.id == "5.2"]
    assert claim.holds is True and claim.note == ""


def test_forgetting_claim_uses_the_matched_differences():
    extra = {**{f"full-s{i}": {"forgetting": 0.5 + 0.01 * i} for i in range(3)},
             **{f"lora-s{i}": {"forgetting": 0.1 + 0.02 * i} for i in range(3)}}
    (claim,) = [c for c in evaluate_claims([_matched_sweep([0, 0, 0], [3, 4, 5], **extra)]) if c.id == "5.6"]
    assert claim.holds is True and claim.measured.startswith("forgetting full − LoRA: 0.39 ± 0.01, 95 % CI [")


def test_intervention_claim_reads_the_interval_of_the_percent_changes():
    def run(acc, fgts):
        return _run("intervention", intervention=[
            *({"run_id": f"r{i}", "target": "top-intruder", "lambda": 0.7, "accuracy_change_pct": acc,
               "forgetting_change_pct": f} for i, f in enumerate(fgts)),
            {"target": "neighbour", "lambda": 0.7, "accuracy_change_pct": 0.0, "forgetting_change_pct": 5.0}])
    assert scaling_reduces_forgetting([run(-0.2, [-30.0, -25.0, -35.0])]).holds is True
    assert scaling_reduces_forgetting([run(-3.0, [-30.0, -25.0, -35.0])]).holds is False  # costs accuracy
    assert scaling_reduces_forgetting([run(0.0, [4.0, 5.0, 6.0])]).holds is False  # forgetting rose
    assert scaling_reduces_forgetting([run(0.0, [-30.0, 5.0, 20.0])]).holds is None  # interval straddles 0
    assert scaling_reduces_forgetting([run(0.0, [-30.0])]).holds is None  # one run: no interval


def test_highest_lr_claim_compares_the_top_lr_lora_run_with_every_full_run():
    def sweep(top_forgetting):
        lora = {"method": "lora", "rank": 8, "alpha": 16}
        return _run("lr_sweep", runs=[{**lora, "lr": 1e-4, "forgetting": 0.9},
                                      {**lora, "lr": 5e-3, "forgetting": top_forgetting},
                                      {"method": "full", "lr": 1e-5, "forgetting": 0.1},
                                      {"method": "full", "lr": 2e-5, "forgetting": 0.3}])
    (claim,) = [c for c in evaluate_claims([sweep(0.5)]) if c.id == "5.5c"]
    assert claim.holds is True and "lr=0.005" in claim.measured
    (claim,) = [c for c in evaluate_claims([sweep(0.2)]) if c.id == "5.5c"]
    assert claim.holds is False  # the low-lr run's 0.9 does not count


def test_undefined_correlation_is_undecided():
    lr = _run("lr_sweep", correlations=[{"scope": "task x", "x": "intruders", "y": "forgetting", "rho": None,
                                         "p": None, "n": 4, "note": "x is constant: ρ is undefined"}])
    (claim,) = [c for c in evaluate_claims([lr]) if c.id == "5.5"]
    assert claim.holds is None and "constant" in claim.note


def test_toy_claim_finds_the_planted_direction():
    from lorascope.experiments.toy import spike_rows

    claim = toy_spike([_run("toy", toy_spike=spike_rows())])
    assert claim.holds is True and claim.measured.startswith("ε = 0.3: 1 at rank(s) [1]")
    assert claim.rule.endswith("(200 × 200 Gaussian W, λ = 2σ_max)")


def test_toy_claim_fails_without_the_spike_on_top():
    """The claim reads the measured table: an intruder away from rank 1 at ε = 0.5 is a failed claim."""
    rows = [{"n": 8, "epsilon": 0.5, "intruder_ranks": [2], "lambda_over_sigma_max": 2.0}]
    claim = toy_spike([_run("toy", toy_spike=rows)])
    assert claim.holds is False and "0.5" in claim.note
    assert toy_spike([_run("rank_sweep", toy_spike=rows)]) is None


def test_report_of_a_run_folder_has_its_claims_table(tmp_path):
    folder = write_run_folder(tmp_path / "sweep")
    extra = Claim("9.9", "extra", "p", "m", None, "r")
    report = build_report([folder], tmp_path / "r.html", extra_claims=(extra,))
    assert [c.id for c in report.claims] == ["5.1", "5.2", "9.9"]
    assert [c.holds for c in report.claims] == [None, None, None]  # no runs table: nothing quality-matched
    assert all("no quality-matched" in c.note for c in report.claims[:2])
    html = report.html.read_text()
    assert html.count('<tr data-claim="') == 3 and 'class="holds-null"' in html
    assert f'href="#fig-{figure_id("sweep", "fig4_intruders_vs_epsilon")}"' in html


def test_every_claim_lists_each_paper_claim_once_in_order_with_the_reason_for_a_gap():
    found = [Claim("5.5b", "c", "p", "m", True, "r"), Claim("5.2", "c", "p", "m", True, "r"),
             Claim("5.5", "c", "p", "m", True, "r")]
    claims = every_claim(found)
    assert [c.id for c in claims] == ["5.1", "5.2", "5.3", "5.4", "5.5", "5.5b", *(f"5.{i}" for i in range(6, 15))]
    gap = {c.id: c for c in claims}
    assert gap["5.4"].measured == "not measurable here" and "LLaMA-2-7B" in gap["5.4"].note
    assert gap["5.11"].measured == "not measured" and "data_size" in gap["5.11"].note
    assert all(gap[i].holds is None for i in ("5.1", "5.3", "5.4", "5.11")) and gap["5.2"] is found[1]


def test_data_size_claim_reads_counts_by_fraction():
    def run(r8, r1):
        runs, sweep = [], []
        for rank, counts in ((8, r8), (1, r1)):
            for f, c in zip((0.25, 1.0), counts, strict=True):
                runs.append({"run_id": f"r{rank}-{f}", "rank": rank, "fraction": f, "diverged": False})
                sweep.append({"run_id": f"r{rank}-{f}", "rank": rank, "method": "lora", "epsilon": 0.5,
                              "intruders": c})
        return _run("data_size", runs=runs, epsilon_sweep=sweep)
    (claim,) = [c for c in evaluate_claims([run((2, 9), (3, 3))]) if c.id == "5.11"]
    assert claim.holds is True and "r=8: 0.25 → 2, 1 → 9" in claim.measured
    (claim,) = [c for c in evaluate_claims([run((9, 2), (3, 3))]) if c.id == "5.11"]
    assert claim.holds is False
    (claim,) = [c for c in evaluate_claims([run((2, 9), (1, 8))]) if c.id == "5.11"]
    assert claim.holds is False  # r = 1 is not flat
