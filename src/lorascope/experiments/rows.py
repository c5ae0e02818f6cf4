"""Tidy rows from what the pipelines return: a scan's sweeps, matrices and similarity maps."""

from __future__ import annotations

from typing import Any

from lorascope.results import ScanResult, layer_of, module_type_of


def scan_rows(result: ScanResult, tag: dict[str, Any], maps: bool = False) -> dict[str, list[dict[str, Any]]]:
    """{table: rows} of one scan, each row starting with `tag`: ε sweep, k-fraction sweep, per-matrix measures."""
    tables: dict[str, list[dict[str, Any]]] = {
        "epsilon_sweep": [{**tag, "k": result.k, "epsilon": eps, "intruders": n}
                          for eps, n in zip(result.epsilons, result.epsilon_totals(), strict=True)],
        "k_fraction_sweep": [{**tag, "epsilon": result.epsilon, "k_fraction": f, "intruders": n}
                             for f, n in zip(result.k_fractions or (), result.k_fraction_totals() or (),
                                             strict=True)],
        "matrices": [],
    }
    for m in result.matrices:
        delta = m.analysis.delta
        tables["matrices"].append({
            **tag, "matrix": m.name, "layer": layer_of(m.name), "module_type": module_type_of(m.name),
            "rows": m.shape[0], "cols": m.shape[1], "k": result.k, "epsilon": result.epsilon,
            "intruders": m.intruders, "min_max_cos": m.min_max_cos, "effective_rank": delta.effective_rank,
            "stable_rank": delta.stable_rank, "energy_rank_90": delta.energy_rank_90,
            "energy_rank_99": delta.energy_rank_99, "fro_norm": delta.fro_norm, "spectral_norm": delta.spectral_norm})
    if maps:
        tables["similarity"] = [
            {**tag, "matrix": m.name, "base_index": i, "tuned_index": j, "cos": float(value)}
            for m in result.matrices for i, row in enumerate(m.analysis.similarity.tolist())
            for j, value in enumerate(row)]
    return tables


def merge_tables(parts: list[dict[str, list[dict[str, Any]]]]) -> dict[str, list[dict[str, Any]]]:
    """Concatenate {table: rows} dicts table by table, in order."""
    out: dict[str, list[dict[str, Any]]] = {}
    for part in parts:
        for name, rows in part.items():
            out.setdefault(name, []).extend(rows)
    return out
