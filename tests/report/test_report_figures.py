"""The figure data: every drawn number comes from the inputs, and a figure without data is left out."""

from __future__ import annotations

import json

from scipy.stats import spearmanr

from lorascope.report import FigureOptions, all_figures, load_inputs
from lorascope.report.choose import choose_matrices
from lorascope.report.fig_erank import erank_figure
from lorascope.report.fig_monitor import monitor_figure
from lorascope.report.fig_rollup import rollup_figure
from lorascope.report.fig_scale import scale_figure
from lorascope.report.fig_similarity import similarity_figure
from lorascope.report.fig_sweeps import epsilon_figure, k_fraction_figure
from lorascope.report.fig_training import training_figure
from report.conftest import monitor_rows, scale_report, train_rows, write_jsonl


def _ids(inputs, **options) -> list[str]:
    return [f.id for f in all_figures(inputs, FigureOptions(**options))]


def test_epsilon_points_equal_epsilon_totals(scan_dir):
    inputs = load_inputs([scan_dir])
    fig = epsilon_figure(inputs.scans)
    (panel,) = fig.panels
    assert [s.name for s in panel.series] == ["full", "lora-r4"]
    for scan, series in zip(inputs.scans, panel.series, strict=True):
        raw = json.loads(scan.path.read_text())
        assert list(series.x) == raw["epsilons"]
        assert list(series.y) == raw["epsilon_totals"]
    assert "top 6 singular vectors" in fig.caption


def test_k_fraction_curve_only_for_the_swept_scan(scan_dir):
    inputs = load_inputs([scan_dir])
    (panel,) = k_fraction_figure(inputs.scans).panels
    (series,) = panel.series
    raw = json.loads((scan_dir / "lora-r4.json").read_text())
    assert series.name == "lora-r4"
    assert list(series.x) == raw["k_fractions"] and list(series.y) == raw["k_fraction_totals"]
    assert k_fraction_figure(load_inputs([scan_dir / "full.json"]).scans) is None


def test_heatmap_outlines_exactly_the_intruder_columns(scan_dir):
    inputs = load_inputs([scan_dir])
    choice = choose_matrices(inputs.scans, per_scan=3)
    fig = similarity_figure(inputs.scans, choice)
    assert fig.panels
    raw = {s.label: {m["name"]: m for m in json.loads(s.path.read_text())["matrices"]} for s in inputs.scans}
    for panel in fig.panels:
        name = panel.group.split("  ·  ")[1]
        m = raw[panel.title][name]
        assert [list(r) for r in panel.values] == [[min(max(v, 0.0), 1.0) for v in r] for r in m["similarity"]]
        assert list(panel.outlined) == [t["index"] for t in m["top"] if t["intruder"]]
        assert len(panel.outlined) == m["intruders"]


def test_heatmap_crop_keeps_only_visible_outlines(scan_dir):
    inputs = load_inputs([scan_dir])
    choice = choose_matrices(inputs.scans, per_scan=2)
    for panel in similarity_figure(inputs.scans, choice, map_size=3).panels:
        assert len(panel.values) == 3 and all(len(r) == 3 for r in panel.values)
        assert all(j < 3 for j in panel.outlined)


def test_default_choice_is_the_most_intruded_per_scan_and_regex_overrides(scan_dir):
    inputs = load_inputs([scan_dir])
    choice = choose_matrices(inputs.scans, per_scan=1)
    for scan in inputs.scans:
        top = max(m.intruders for m in scan.result.matrices)
        assert any(m.name in choice.names and m.intruders == top for m in scan.result.matrices)
    picked = choose_matrices(inputs.scans, patterns=[r"layer\.1\..*query"])
    assert picked.names == ("encoder.layer.1.attention.self.query.weight",) and picked.by_pattern


def test_max_cos_view_marks_intruders(scan_dir):
    inputs = load_inputs([scan_dir])
    fig = next(f for f in all_figures(inputs) if f.id == "max-cos")
    for panel in fig.panels:
        assert panel.hline == (0.5, "ε = 0.5")
        for series in panel.series:
            scan = next(s for s in inputs.scans if s.label == series.key)
            m = next(m for m in scan.result.matrices if m.name == panel.note)
            assert list(series.y) == [t.max_cos for t in m.analysis.top]
            assert list(series.marked) == [j for j, t in enumerate(m.analysis.top) if t.intruder]
            assert all(series.y[j] < 0.5 for j in series.marked)


def test_rollups_sum_to_the_scan_totals(scan_dir):
    inputs = load_inputs([scan_dir])
    fig = rollup_figure(inputs.scans)
    assert [p.title for p in fig.panels] == ["By layer depth", "By module type"]
    assert fig.panels[0].categories == ("0", "1")
    for panel in fig.panels:
        for series, scan in zip(panel.series, inputs.scans, strict=True):
            assert sum(series.values) == scan.result.total_intruders


def test_effective_rank_per_matrix(scan_dir):
    inputs = load_inputs([scan_dir])
    (panel,) = erank_figure(inputs.scans).panels
    for series, scan in zip(panel.series, inputs.scans, strict=True):
        raw = json.loads(scan.path.read_text())
        assert sorted(series.y) == sorted(m["delta"]["effective_rank"] for m in raw["matrices"])
    lora = next(s for s in panel.series if s.key == "lora-r4")
    assert max(lora.y) <= 4 + 1e-6  # a rank-4 update cannot use more directions


def test_training_panels_and_spearman_over_all_rows(tmp_path):
    rows = train_rows()
    inputs = load_inputs([write_jsonl(tmp_path / "results.jsonl", rows)])
    fig = training_figure(inputs.train_rows)
    titles = [p.title for p in fig.panels]
    assert titles == ["Intruders", "Test accuracy", "Forgetting", "Forgetting vs intruders",
                      "Test accuracy vs intruders"]
    assert all(len(p.series) == 2 for p in fig.panels)
    assert [s.name for s in fig.panels[0].series] == ["lr 0.0001", "lr 0.0004"]
    assert list(fig.panels[0].series[1].y) == [r["intruders"] for r in rows[4:]]
    expected = spearmanr([r["intruders"] for r in rows], [r["forgetting"] for r in rows])
    stat = {s.label: s for s in fig.stats}["intruders vs forgetting"]
    assert stat.value == f"ρ = {expected.statistic:.3f}"
    assert f"p = {expected.pvalue:.2g}" in stat.detail and "n = 8 rows" in stat.detail


def test_training_without_forgetting_drops_those_panels(tmp_path):
    rows = [{**r, "forgetting": None} for r in train_rows()]
    fig = training_figure(load_inputs([write_jsonl(tmp_path / "results.jsonl", rows)]).train_rows)
    assert [p.title for p in fig.panels] == ["Intruders", "Test accuracy", "Test accuracy vs intruders"]
    assert [s.label for s in fig.stats] == ["intruders vs accuracy"]


def test_lm_objective_runs_plot_their_task_loss(tmp_path):
    rows = [{**r, "quality_metric": "task_loss", "accuracy": None, "task_loss": 3.0 - 0.1 * i}
            for i, r in enumerate(train_rows())]
    fig = training_figure(load_inputs([write_jsonl(tmp_path / "results.jsonl", rows)]).train_rows)
    assert [p.title for p in fig.panels] == ["Intruders", "Held-out task loss", "Forgetting",
                                             "Forgetting vs intruders", "Held-out task loss vs intruders"]
    assert list(fig.panels[1].series[0].y) == [r["task_loss"] for r in rows[:4]]
    expected = spearmanr([r["intruders"] for r in rows], [r["task_loss"] for r in rows])
    assert {s.label: s for s in fig.stats}["intruders vs task loss"].value == f"ρ = {expected.statistic:.3f}"


def test_monitor_figure_marks_the_intruders(tmp_path):
    inputs = load_inputs([write_jsonl(tmp_path / "intruders.jsonl", monitor_rows())])
    fig = monitor_figure(inputs.monitor_rows)
    counts = fig.panels[0]
    assert len(counts.series) == 2
    q = next(s for s in counts.series if "q_proj" in s.key)
    assert list(q.y) == [0, 0, 1, 1, 1]
    sigma, cos = fig.panels[1], fig.panels[2]
    assert "q_proj" in sigma.group and len(sigma.series) == 4
    assert list(cos.series[2].marked) == [2, 3, 4] and all(not s.marked for i, s in enumerate(cos.series) if i != 2)


def test_scale_figure_only_with_measurements(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "scale.json").write_text(json.dumps(scale_report("top-intruder", True)))
    (tmp_path / "b" / "scale.json").write_text(json.dumps(scale_report("neighbour", True)))
    fig = scale_figure(load_inputs([tmp_path]).scales)
    assert [p.title for p in fig.panels] == ["Test accuracy vs λ", "Forgetting vs λ"]
    assert [s.key for s in fig.panels[0].series] == ["top-intruder", "neighbour"]
    assert list(fig.panels[0].series[0].x) == [0.0, 0.5, 1.0]
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "scale.json").write_text(json.dumps(scale_report("top-intruder", False)))
    assert scale_figure(load_inputs([tmp_path / "c"]).scales) is None


def test_missing_data_leaves_figures_out(scan_dir, tmp_path):
    raw = json.loads((scan_dir / "full.json").read_text())
    for m in raw["matrices"]:
        del m["similarity"]
        del m["delta"]
    (tmp_path / "bare.json").write_text(json.dumps(raw))
    ids = _ids(load_inputs([tmp_path / "bare.json"]))
    assert ids == ["intruders-vs-epsilon", "max-cos", "intruders-by-location"]
    assert _ids(load_inputs([scan_dir])) == ["intruders-vs-epsilon", "intruders-vs-k-fraction", "similarity",
                                            "max-cos", "intruders-by-location", "effective-rank"]


def test_run_folder_gives_training_and_monitor_figures_only(run_dir):
    inputs = load_inputs([run_dir])
    assert sorted(k for _, k in inputs.files) == ["training monitor", "training results"]
    assert _ids(inputs) == ["training", "monitor"]
