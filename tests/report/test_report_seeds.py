"""Seeds in the claims and the run figures: ρ's interval decides 5.5 / 5.5b, matched-pair counts, every seed of
the top-lr runs in 5.5c, one line per seed, and the full fine-tuning baseline on the by-rank figures."""

from __future__ import annotations

from lorascope.recipes.lr_sweep import correlations
from lorascope.recipes.rank_sweep import FIGURES as RANK_FIGURES
from lorascope.recipes.rank_sweep import effective_rank_rows, forgetting_rows
from lorascope.report.claims import evaluate_claims, scaling_reduces_forgetting
from lorascope.report.data import RunData
from lorascope.report.fig_runs import figure_id, run_figures
from lorascope.report.spec import XYPanel


def _run(recipe: str, figures: dict | None = None, **tables) -> RunData:
    return RunData(path=None, label=recipe, recipe=recipe, profile="quick", description="",  # type: ignore[arg-type]
                   figures=figures or {}, tables={k: tuple(v) for k, v in tables.items()})


def _claim(runs: list[RunData], cid: str):
    (claim,) = [c for c in evaluate_claims(runs) if c.id == cid]
    return claim


def _evals(forgetting_of, accuracy_of, runs: int = 6, epochs: int = 2, diverged: tuple[str, ...] = ()) -> list[dict]:
    """lr_sweep evals: run i (seed i % 3) has i intruders at each epoch, and the given forgetting / accuracy."""
    rows = []
    for i in range(runs):
        rid = f"run{i}"
        for step in range(epochs + 1):
            rows.append({"run_id": rid, "seed": i % 3, "step": step, "quality_metric": "accuracy",
                         "intruders": i * step, "forgetting": forgetting_of(i, step),
                         "accuracy": accuracy_of(i, step), "diverged": rid in diverged})
    return rows


def _lr_sweep(evals: list[dict]) -> RunData:
    return _run("lr_sweep", correlations=correlations(evals, "task t"))


def test_correlation_rows_carry_the_interval_over_the_kept_runs():
    evals = _evals(lambda i, s: 0.1 * i * s + 0.01 * s, lambda i, s: 0.5 + 0.01 * ((i * 7 + s * 3) % 5),
                   diverged=("run5",))
    rows = {r["y"]: r for r in correlations(evals, "task t")}
    assert set(rows) == {"forgetting", "accuracy"}
    fgt = rows["forgetting"]
    assert fgt["runs"] == 5 and fgt["n"] == 10 and fgt["diverged_left_out"] == 1 and "run5" in fgt["note"]
    assert fgt["rho"] > 0.9 and 0 < fgt["rho_low"] <= fgt["rho_high"] <= 1 and fgt["confidence"] == 0.95


def test_forgetting_claim_holds_only_when_the_interval_is_above_zero():
    claim = _claim([_lr_sweep(_evals(lambda i, s: 0.1 * i * s, lambda i, s: 0.5))], "5.5")
    assert claim.holds is True and claim.measured.startswith("ρ = 1, 95 % CI [1, 1] over 6 runs, p = ")
    assert claim.measured.endswith("n = 12") and "lies wholly above 0" in claim.rule
    claim = _claim([_lr_sweep(_evals(lambda i, s: -0.1 * i * s, lambda i, s: 0.5))], "5.5")
    assert claim.holds is False  # the interval lies below 0
    noise = _evals(lambda i, s: ((i * 5 + s * 11) % 7) / 7, lambda i, s: 0.5, runs=12)
    claim = _claim([_lr_sweep(noise)], "5.5")
    assert claim.holds is None and "CI [" in claim.measured  # the interval straddles 0


def test_accuracy_claim_holds_when_the_interval_contains_zero():
    noise = _evals(lambda i, s: 0.1 * i * s, lambda i, s: 0.5 + ((i * 5 + s * 11) % 7) / 70, runs=12)
    claim = _claim([_lr_sweep(noise)], "5.5b")
    assert claim.holds is True and "contains 0" in claim.rule
    claim = _claim([_lr_sweep(_evals(lambda i, s: 0.1 * i * s, lambda i, s: 0.5 + 0.01 * i * s))], "5.5b")
    assert claim.holds is False  # ρ = 1 with an interval at 1: a significant correlation


def test_correlation_tables_without_an_interval_are_undecided_and_say_so():
    old = _run("lr_sweep", correlations=[{"scope": "task t", "x": "intruders", "y": "forgetting", "rho": 0.9,
                                          "p": 0.001, "n": 12, "note": ""}])
    claim = _claim([old], "5.5")
    assert claim.holds is None and "no interval of ρ" in claim.note and "ρ = 0.9 (no interval" in claim.measured


def _sweep(accuracies: dict[str, float], **extra) -> RunData:
    """A rank_sweep with one full and one LoRA r = 8 run per seed (accuracy per run id), 0 / 3 intruders."""
    runs, sweep = [], []
    for rid, acc in accuracies.items():
        method, seed = rid.split("-s")
        runs.append({"run_id": rid, "method": method, "rank": 8 if method == "lora" else None, "alpha": 16.0,
                     "lr": 1e-3, "seed": int(seed), "task": "t", "model": "m",
                     "alpha_rule": "2r" if method == "lora" else None, "quality_metric": "accuracy",
                     "accuracy": acc, "forgetting": 0.5 if method == "full" else 0.2, "diverged": False,
                     **extra.get(rid, {})})
        sweep.append({"run_id": rid, "method": method, "rank": runs[-1]["rank"], "epsilon": 0.5,
                      "intruders": 0 if method == "full" else 3})
    return _run("rank_sweep", runs=runs, epsilon_sweep=sweep)


def test_claims_say_how_many_lora_runs_found_a_matched_full_fine_tune():
    three = _sweep({f"{m}-s{s}": 0.80 for m in ("full", "lora") for s in range(3)})
    for cid in ("5.1", "5.2", "5.6"):
        claim = _claim([three], cid)
        assert "3 of 3 LoRA runs matched" in claim.measured and claim.holds is not None, cid
    one_off = _sweep({**{f"full-s{s}": 0.80 for s in range(3)}, "lora-s0": 0.80, "lora-s1": 0.80, "lora-s2": 0.90,
                      "lora-s3": 0.80}, **{"lora-s3": {"diverged": True}})
    claim = _claim([one_off], "5.2")
    assert "2 of 4 LoRA runs matched (1 diverged)" in claim.measured and claim.holds is None  # 2 values


def test_top_lr_claim_needs_every_seed_of_the_top_lr_to_forget_more():
    def sweep(top):
        lora = {"method": "lora", "rank": 8, "alpha": 16}
        return _run("lr_sweep", runs=[*({**lora, "lr": 5e-3, "seed": s, "forgetting": f} for s, f in enumerate(top)),
                                      {**lora, "lr": 1e-4, "seed": 0, "forgetting": 0.9},
                                      *({"method": "full", "lr": 1e-5, "seed": s, "forgetting": 0.3}
                                        for s in range(3))])
    claim = _claim([sweep([0.5, 0.6, 0.4])], "5.5c")
    assert claim.holds is True and claim.measured.startswith("LoRA r=8 α=16 lr=0.005: 0.4, 0.5, 0.6 (3 run(s)); ")
    assert _claim([sweep([0.5, 0.2, 0.6])], "5.5c").holds is False  # one seed forgets less than full FT


def test_intervention_claim_names_the_seeds_it_rests_on():
    rows = [{"run_id": f"r{s}", "seed": s, "target": "top-intruder", "lambda": 0.7, "accuracy_change_pct": 0.0,
             "forgetting_change_pct": -20.0 - s} for s in range(3)]
    claim = scaling_reduces_forgetting([_run("intervention", intervention=rows)])
    assert claim.holds is True and claim.measured.endswith("over 3 scaled run(s), seeds 0, 1, 2")


def test_several_seeds_are_drawn_one_line_each_in_their_series_colour():
    rows = [{"run_id": f"{m}{s}", "method": m, "seed": s, "epoch": e, "intruders": e * (s + 1) * (m == "lora")}
            for m in ("lora", "full") for s in range(3) for e in (1, 2)]
    spec = {"table": "evals", "x": "epoch", "y": "intruders", "series": ["method"]}
    ((panel,),) = [f.panels for f in run_figures([_run("lr_sweep", {"fig7": spec}, evals=rows)])]
    assert isinstance(panel, XYPanel)
    assert [s.name for s in panel.series] == [f"method {m}, seed {s}" for m in ("lora", "full") for s in range(3)]
    assert len({s.color for s in panel.series[:3]}) == 1 and panel.series[0].color != panel.series[3].color
    assert panel.series[2].y == (3.0, 6.0) and all(len(s.x) == 2 for s in panel.series)
    one = [r for r in rows if r["seed"] == 0]
    ((panel,),) = [f.panels for f in run_figures([_run("lr_sweep", {"fig7": spec}, evals=one)])]
    assert [s.name for s in panel.series] == ["method lora", "method full"]  # one seed: labels unchanged


def _rank_tables() -> dict:
    runs = [{"run_id": f"full{s}", "method": "full", "task": "t", "seed": s, "forgetting": 0.4 + 0.1 * s,
             "diverged": False} for s in range(3)]
    runs += [{"run_id": "fullbad", "method": "full", "task": "t", "seed": 3, "forgetting": 9.0, "diverged": True}]
    runs += [{"run_id": f"r{r}s{s}", "method": "lora", "task": "t", "rank": r, "alpha_rule": "2r", "lr": 1e-2,
              "seed": s, "forgetting": 0.01 * r + 0.001 * s, "diverged": False} for r in (2, 8) for s in range(3)]
    matrices = [{"run_id": run["run_id"], "matrix": m, "effective_rank": (100.0 + m) if run["method"] == "full"
                 else float(run["rank"])} for run in runs for m in range(2)]
    return {"runs": runs, "matrices": matrices}


def test_by_rank_figures_draw_the_full_fine_tunes_mean_as_the_dashed_baseline():
    tables = _rank_tables()
    forgetting, erank = forgetting_rows(tables), effective_rank_rows(tables)
    assert len(forgetting) == len(erank) == 6  # one row per LoRA run
    assert {r["full_forgetting"] for r in forgetting} == {0.5}  # mean of 0.4, 0.5, 0.6; the diverged 9.0 out
    assert {r["full_effective_rank"] for r in erank} == {100.5}
    assert {(r["rank"], r["seed"], r["forgetting"]) for r in forgetting} >= {(8, 2, 0.082)}
    run = _run("rank_sweep", RANK_FIGURES, forgetting=forgetting, effective_rank=erank)
    figures = {f.id: f for f in run_figures([run])}
    for name, value in (("fig6b_forgetting", 0.5), ("fig14_effective_rank", 100.5)):
        (panel,) = figures[figure_id("rank_sweep", name)].panels
        assert isinstance(panel, XYPanel) and panel.hline is not None and panel.hline[0] == value, name
        assert [s.name for s in panel.series] == [f"alpha_rule 2r, seed {s}" for s in range(3)]
        assert all(s.x == (2.0, 8.0) for s in panel.series)


def _only_b(pairs: list[tuple[int, int, int, bool]]) -> RunData:
    """epsilon_sweep rows at ε = 0.5: (rank, only-B intruders, standard intruders, standard diverged)."""
    rows = []
    for rank, frozen, normal, normal_diverged in pairs:
        rows.append({"run_id": f"b{rank}", "method": "lora", "rank": rank, "lr": 0.08 / rank, "seed": 0,
                     "task": "t", "freeze_a": True, "epsilon": 0.5, "intruders": frozen, "diverged": False})
        rows.append({"run_id": f"s{rank}", "method": "lora", "rank": rank, "lr": 0.08 / rank, "seed": 0,
                     "task": "t", "freeze_a": False, "epsilon": 0.5, "intruders": normal,
                     "diverged": normal_diverged})
    return _run("only_b", epsilon_sweep=rows)


def test_only_b_claim_compares_rank_by_rank_and_drops_both_runs_of_a_diverged_pair():
    # r = 1's standard run diverged with 26 intruders: its only-B partner (22) leaves the sums with it
    claim = _claim([_only_b([(1, 22, 26, True), (4, 1, 20, False), (8, 0, 13, False)])], "5.9")
    assert claim.holds is True and "only-B 1 vs standard 33 over 2 rank pair(s)" in claim.measured
    assert "s1" in claim.note and "diverged" in claim.note
    claim = _claim([_only_b([(4, 40, 20, False), (8, 0, 13, False)])], "5.9")
    assert claim.holds is False and "only-B 40 vs standard 33" in claim.measured


def _continual(drops: dict[str, float], broken: tuple[str, ...] = ()) -> RunData:
    """Two stages per chain: the first task's accuracy falls by `drops[chain]`; `broken` chains' stages diverged."""
    accuracy, stages = [], []
    for chain, drop in drops.items():
        for stage in (1, 2):
            accuracy.append({"chain": chain, "stage": stage, "task": "a", "trained": True,
                             "accuracy": 0.8 - (drop if stage == 2 else 0.0)})
            stages.append({"chain": chain, "stage": stage, "diverged": chain in broken,
                           "diverged_reason": f"forgetting {9 + stage} > 1 nat" if chain in broken else ""})
    return _run("continual", accuracy=accuracy, stages=stages)


def test_continual_claim_follows_the_first_task_of_the_sequence_not_the_alphabet():
    # zebra is trained first, apple second: the claim is about zebra, whose accuracy full keeps and LoRA loses
    accuracy, stages = [], []
    for chain, lost in (("full", 0.0), ("lora-r8", 0.2)):
        for stage in (0, 1, 2):
            for index, task in ((1, "zebra"), (2, "apple")):
                accuracy.append({"chain": chain, "stage": stage, "task": task, "task_index": index,
                                 "trained": index <= stage,
                                 "accuracy": 0.9 - (lost if task == "zebra" and stage == 2 else 0.0)})
            stages.append({"chain": chain, "stage": stage, "diverged": False if stage else None})
    claim = _claim([_run("continual", accuracy=accuracy, stages=stages)], "5.8")
    assert "(zebra)" in claim.claim and claim.holds is True and "lora-r8: 0.2" in claim.measured


def test_continual_claim_leaves_out_a_chain_with_a_diverged_stage():
    # r = 1's chain diverged and lost everything: without the rule it alone would make the claim hold
    claim = _claim([_continual({"full": 0.05, "lora-r1": 0.30, "lora-r8": 0.02}, broken=("lora-r1",))], "5.8")
    assert claim.holds is False and "lora-r1" not in claim.measured and "lora-r1" in claim.note
    assert "stage 1: forgetting 10 > 1 nat" in claim.note and "stage 2" not in claim.note  # its first diverged stage
    claim = _claim([_continual({"full": 0.05, "lora-r1": 0.30}, broken=("lora-r1",))], "5.8")
    assert claim.holds is None and "lora-r1" in claim.note
    assert "full: 0.05" in claim.measured and "lora-r1: 0.3" in claim.measured  # shown, not counted
    assert _claim([_continual({"full": 0.05, "lora-r1": 0.30})], "5.8").holds is True


def test_data_size_claim_is_undecided_when_every_low_rank_run_diverged():
    runs, sweep = [], []
    for rank in (1, 8):
        for fraction, count in ((0.25, 2), (1.0, 9)):
            rid = f"r{rank}-{fraction}"
            bad = rank == 1
            runs.append({"run_id": rid, "rank": rank, "fraction": fraction, "diverged": bad})
            sweep.append({"run_id": rid, "rank": rank, "epsilon": 0.5, "intruders": count + 20 * bad,
                          "diverged": bad})
    claim = _claim([_run("data_size", runs=runs, epsilon_sweep=sweep)], "5.11")
    assert claim.holds is None and "r=8: 2 fraction(s)" in claim.measured and "r1-0.25" in claim.note
    for row in (*runs, *sweep):
        row["diverged"] = False
    assert _claim([_run("data_size", runs=runs, epsilon_sweep=sweep)], "5.11").holds is True  # r = 1: 22 → 29 is flat


def test_seed_claim_rests_on_the_seeds_that_did_not_diverge():
    spread_rows = [{"rank": 1, "epsilon": 0.5, "n": 0, "mean": None, "std": None, "diverged_left_out": 5},
                   {"rank": 8, "epsilon": 0.5, "n": 5, "mean": 6.0, "std": 4.1, "diverged_left_out": 0}]
    claim = _claim([_run("seeds", spread=spread_rows)], "5.10")
    assert claim.holds is False and "r=1" not in claim.measured and "r=8: 6 ± 4.1 (n=5)" in claim.measured
    assert claim.note == "r=1: 5 diverged seed(s) left out"
