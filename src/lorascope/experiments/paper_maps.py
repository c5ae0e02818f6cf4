"""The paper's picture (Fig. 1, 3): one matrix's similarity map under full fine-tuning beside LoRA's.

`paper_maps` picks the quality-matched (LoRA, full) pair with the smallest quality gap
(lorascope.evidence.matching); with no matched pair it takes the closest pair of any runs and says in each
panel's name that they are not matched. The matrix is the LoRA run's one with the most intruders (its first
on ties). Rows: panel, run_id, method, matrix, base_index, tuned_index, cos (|cos| of top-n base vs top-n tuned
left singular vectors, from the runs' final scans).
"""

from __future__ import annotations

from typing import Any

from lorascope.evidence.matching import MatchRule, Pair, match_pairs

Tables = dict[str, list[dict[str, Any]]]


def _closest_any(runs: list[dict[str, Any]]) -> Pair | None:
    """The closest-quality (LoRA, full) pair of the same task, whatever the tolerance or divergence."""
    loose = MatchRule(accuracy_points=float("inf"), relative_loss=float("inf"))
    pairs = match_pairs([{**r, "diverged": False} for r in runs], loose)
    return min(pairs, key=lambda p: p.gap) if pairs else None


def paper_maps(tables: Tables) -> list[dict[str, Any]]:
    """Rows of the two side-by-side maps (empty when the tables hold no full/LoRA pair or no maps)."""
    runs = tables.get("runs", [])
    matched = match_pairs(runs)
    pair = min(matched, key=lambda p: p.gap) if matched else _closest_any(runs)
    similarity = tables.get("similarity", [])
    if pair is None or not similarity:
        return []
    lora_id = pair.lora["run_id"]
    mats = [m for m in tables.get("matrices", []) if m.get("run_id") == lora_id]
    if not mats:
        return []
    matrix = max(mats, key=lambda m: m.get("intruders") or 0)["matrix"]
    tag = "matched" if matched else "NOT matched"
    out = []
    for row, name in ((pair.full, "full fine-tuning"), (pair.lora, f"LoRA r={pair.lora.get('rank')}")):
        panel = f"{name}, {pair.metric} {row[pair.metric]:.3g} ({tag}), {matrix}"
        out += [{"panel": panel, "run_id": row["run_id"], "method": row.get("method"), "matrix": matrix,
                 "base_index": s["base_index"], "tuned_index": s["tuned_index"], "cos": s["cos"]}
                for s in similarity if s.get("run_id") == row["run_id"] and s.get("matrix") == matrix]
    return out
