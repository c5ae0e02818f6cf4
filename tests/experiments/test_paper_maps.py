"""The paper's picture from synthetic tables: the matched pair's maps of the LoRA run's most-intruded matrix,
and the full fine-tuning baseline of the effective-rank figure."""

from __future__ import annotations

from lorascope.experiments.paper_maps import paper_maps
from lorascope.recipes.rank_sweep import effective_rank_rows


def _tables(lora_acc: float) -> dict:
    runs = [{"run_id": "full", "method": "full", "task": "t", "model": "m", "seed": 0, "quality_metric": "accuracy",
             "accuracy": 0.70, "diverged": False},
            {"run_id": "r8", "method": "lora", "rank": 8, "alpha_rule": "2r", "task": "t", "model": "m", "seed": 0,
             "quality_metric": "accuracy", "accuracy": lora_acc, "diverged": False},
            {"run_id": "r2", "method": "lora", "rank": 2, "alpha_rule": "2r", "task": "t", "model": "m", "seed": 0,
             "quality_metric": "accuracy", "accuracy": 0.60, "diverged": True}]
    matrices = [{"run_id": rid, "matrix": name, "intruders": n, "effective_rank": er}
                for rid, name, n, er in (("full", "a", 0, 100.0), ("full", "b", 0, 200.0), ("r8", "a", 1, 3.0),
                                         ("r8", "b", 4, 5.0), ("r2", "a", 9, 1.0))]
    similarity = [{"run_id": rid, "matrix": name, "base_index": i, "tuned_index": j, "cos": float(i == j)}
                  for rid in ("full", "r8", "r2") for name in ("a", "b") for i in range(2) for j in range(2)]
    return {"runs": runs, "matrices": matrices, "similarity": similarity}


def test_maps_show_the_matched_pair_on_the_lora_runs_most_intruded_matrix():
    rows = paper_maps(_tables(0.71))
    assert {r["run_id"] for r in rows} == {"full", "r8"} and {r["matrix"] for r in rows} == {"b"}
    assert len(rows) == 8
    panels = sorted({r["panel"] for r in rows})
    assert panels == ["LoRA r=8, accuracy 0.71 (matched), b", "full fine-tuning, accuracy 0.7 (matched), b"]


def test_without_a_matched_pair_the_panels_say_not_matched():
    rows = paper_maps(_tables(0.80))
    assert rows and all("(NOT matched)" in r["panel"] for r in rows)
    assert paper_maps({**_tables(0.71), "similarity": []}) == []


def test_effective_rank_rows_carry_the_full_baseline_and_the_divergence_flag():
    rows = {r["run_id"]: r for r in effective_rank_rows(_tables(0.71))}
    assert set(rows) == {"r8", "r2"}
    assert rows["r8"]["effective_rank"] == 4.0 and rows["r8"]["full_effective_rank"] == 150.0
    assert rows["r2"]["diverged"] is True and rows["r8"]["diverged"] is False
