"""What a scan returns: typed results that serialise to the documented JSON schema."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lorascope.atomic import atomic_write_text
from lorascope.spectral.analyze import MatrixAnalysis

_LAYER = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks|block)\.(\d+)\.")


def layer_of(name: str) -> int | None:
    """The transformer block index in a tensor name (`model.layers.3.mlp...` -> 3), if any."""
    m = _LAYER.search(name)
    return int(m.group(1)) if m else None


def module_type_of(name: str) -> str:
    """The module's role inside its block: `model.layers.3.self_attn.q_proj.weight` -> `self_attn.q_proj`."""
    stem = name.removesuffix(".weight")
    m = _LAYER.search(stem)
    return stem[m.end():] if m else stem


# The columns of ScanResult.rows(): one row per analysed matrix and examined top singular vector of W_tuned.
ROW_COLUMNS: dict[str, str] = {
    "matrix": "tensor name in BASE, e.g. model.layers.3.self_attn.q_proj.weight",
    "layer": "transformer block index in the name, or None (embeddings, head)",
    "module_type": "the module's role inside its block, e.g. self_attn.q_proj",
    "m": "rows of the matrix as analysed: (out, in); embedding tables (num_embeddings, dim)",
    "n": "columns of the matrix as analysed",
    "solver": "how the matrix's top vectors were found (as in the JSON's 'solver')",
    "vector": "rank of the tuned singular vector, 0 = largest σ (the JSON's top[].index)",
    "sigma": "its singular value in W_tuned",
    "max_cos": "its largest |cos| with any base left singular vector",
    "base_index": "rank of that best-matching base vector",
    "epsilon": "the scan's ε",
    "intruder": "max_cos < ε: an intruder dimension",
}


@dataclass(frozen=True)
class MatrixResult:
    """One analysed weight matrix."""

    name: str
    shape: tuple[int, int]
    analysis: MatrixAnalysis

    @property
    def intruders(self) -> int:
        return self.analysis.intruders

    @property
    def min_max_cos(self) -> float:
        """The smallest max |cos| among the top k: how far the most 'new' direction is from the base."""
        return min(t.max_cos for t in self.analysis.top)

    def to_json(self) -> dict:
        a = self.analysis
        return {
            "name": self.name,
            "shape": list(self.shape),
            "intruders": a.intruders,
            "top": [asdict(t) for t in a.top],
            "delta": asdict(a.delta) if a.delta is not None else None,
            "solver": a.solver,
            "layer": layer_of(self.name),
            "module_type": module_type_of(self.name),
            "epsilon_counts": list(a.epsilon_counts),
            "k_fraction_counts": None if a.k_fraction_counts is None else list(a.k_fraction_counts),
            "similarity": [[round(float(x), 6) for x in row] for row in a.similarity.tolist()],
        }


@dataclass(frozen=True)
class ScanResult:
    """Everything one `scan` measured; `to_json()` follows the schema in the README."""

    version: str
    base: str
    tuned: str
    tuned_kind: str
    k: int
    epsilon: float
    epsilons: tuple[float, ...]
    k_fractions: tuple[float, ...] | None
    matrices: list[MatrixResult]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0
    base_spectra_computed: int = 0  # index misses (or every matrix without the index); not part of the JSON

    @property
    def total_intruders(self) -> int:
        return sum(m.intruders for m in self.matrices)

    def epsilon_totals(self) -> list[int]:
        """Model-level intruder counts at each ε of the sweep (k fixed)."""
        return [sum(m.analysis.epsilon_counts[i] for m in self.matrices) for i in range(len(self.epsilons))]

    def k_fraction_totals(self) -> list[int] | None:
        """Model-level intruder counts at each k fraction of the sweep (ε fixed), when it was run."""
        if self.k_fractions is None:
            return None
        return [sum(m.analysis.k_fraction_counts[i] for m in self.matrices) for i in range(len(self.k_fractions))]

    def rollup(self, key: str) -> dict[str, tuple[int, int]]:
        """Intruders and matrix counts grouped by 'module_type' or 'layer'."""
        groups: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for m in self.matrices:
            g = module_type_of(m.name) if key == "module_type" else str(layer_of(m.name))
            groups[g][0] += m.intruders
            groups[g][1] += 1
        return {g: (v[0], v[1]) for g, v in groups.items()}

    def rows(self) -> list[dict]:
        """The scan as a tidy table: one dict per (matrix, examined top vector), keys as in ROW_COLUMNS."""
        return [
            {"matrix": m.name, "layer": layer_of(m.name), "module_type": module_type_of(m.name),
             "m": m.shape[0], "n": m.shape[1], "solver": m.analysis.solver, "vector": t.index, "sigma": t.sigma,
             "max_cos": t.max_cos, "base_index": t.base_index, "epsilon": self.epsilon, "intruder": t.intruder}
            for m in self.matrices for t in m.analysis.top
        ]

    def to_arrow(self):
        """rows() as a pyarrow Table (columns ROW_COLUMNS, documented in the schema's metadata)."""
        import pyarrow as pa

        schema = pa.schema([
            ("matrix", pa.string()), ("layer", pa.int64()), ("module_type", pa.string()), ("m", pa.int64()),
            ("n", pa.int64()), ("solver", pa.string()), ("vector", pa.int64()), ("sigma", pa.float64()),
            ("max_cos", pa.float64()), ("base_index", pa.int64()), ("epsilon", pa.float64()),
            ("intruder", pa.bool_()),
        ], metadata={name: text for name, text in ROW_COLUMNS.items()})
        return pa.Table.from_pylist(self.rows(), schema=schema)

    def to_pandas(self):
        """rows() as a pandas DataFrame via to_arrow() (integer columns stay integers: layer is Int64 with <NA>).

        pandas is not a lorascope dependency: without it this raises ImportError saying so.
        """
        try:
            import pandas as pd
        except ImportError as e:
            raise ImportError("ScanResult.to_pandas() needs pandas, which lorascope does not install: `pip install "
                              "pandas` (rows() gives the same table as dicts, to_arrow() as a pyarrow Table)") from e
        import pyarrow as pa

        return self.to_arrow().to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)

    def to_json(self) -> dict:
        return {
            "lorascope_version": self.version,
            "base": self.base,
            "tuned": self.tuned,
            "tuned_kind": self.tuned_kind,
            "k": self.k,
            "epsilon": self.epsilon,
            "total_intruders": self.total_intruders,
            "epsilons": list(self.epsilons),
            "epsilon_totals": self.epsilon_totals(),
            "k_fractions": None if self.k_fractions is None else list(self.k_fractions),
            "k_fraction_totals": self.k_fraction_totals(),
            "seconds": round(self.seconds, 3),
            "matrices": [m.to_json() for m in self.matrices],
            "skipped": [{"name": n, "reason": r} for n, r in self.skipped],
            "warnings": list(self.warnings),
        }

    def save_json(self, path: str | Path) -> Path:
        """Write the JSON atomically."""
        return atomic_write_text(path, json.dumps(self.to_json(), indent=1) + "\n")
