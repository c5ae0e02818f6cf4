"""What a scan returns: typed results that serialise to the documented JSON schema."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch

from lorascope.atomic import atomic_write_text
from lorascope.errors import InputError
from lorascope.json_fields import get, integer, integers, is_number, number, numbers, read_json, text
from lorascope.spectral.analyze import MatrixAnalysis, TopVector
from lorascope.spectral.rank import DeltaStats

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
        return min((t.max_cos for t in self.analysis.top), default=1.0)

    @property
    def layer(self) -> int | None:
        """The transformer block the matrix sits in (None outside blocks)."""
        return layer_of(self.name)

    @property
    def module_type(self) -> str:
        """The module's role inside its block, e.g. `self_attn.q_proj`."""
        return module_type_of(self.name)

    @property
    def effective_rank(self) -> float | None:
        """ΔW's effective rank (None when the scan did not measure the update)."""
        return None if self.analysis.delta is None else self.analysis.delta.effective_rank

    @property
    def intruder_columns(self) -> tuple[int, ...]:
        """Positions (0-based, in singular-value order) of the examined vectors that are intruders."""
        return tuple(i for i, t in enumerate(self.analysis.top) if t.intruder)

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

    @classmethod
    def from_dict(cls, obj: object, place: str = "matrix", n_epsilons: int | None = None,
                  n_k_fractions: int | None = None) -> MatrixResult:
        """One matrix of a scan JSON read back (to_json's shape); InputError naming `place` and the field.

        `similarity` may be null in hand-made files: it is then an empty (0, 0) tensor."""
        name = text(obj, "name", place)
        place = f"{place} ({name})"
        shape = integers(obj, "shape", place, length=2)
        top = _top_vectors(get(obj, "top", place), place)
        intruders = integer(obj, "intruders", place, minimum=0)
        if intruders != sum(t.intruder for t in top):
            raise InputError(f"{place}: 'intruders' is {intruders} but {sum(t.intruder for t in top)} "
                             f"entries of 'top' are marked intruder")
        analysis = MatrixAnalysis(
            top=top, intruders=intruders,
            epsilon_counts=list(integers(obj, "epsilon_counts", place, length=n_epsilons)),
            k_fraction_counts=_optional_list(integers(obj, "k_fraction_counts", place, optional=True,
                                                      length=n_k_fractions)),
            similarity=_similarity(obj.get("similarity"), place), delta=_delta(obj.get("delta"), place),
            solver=text(obj, "solver", place))
        return cls(name, (shape[0], shape[1]), analysis)


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

    @classmethod
    def from_json(cls, obj: object, place: str = "scan") -> ScanResult:
        """A scan read back from its JSON object (to_json's shape); InputError naming `place` (and the matrix) on
        a wrong field. The totals to_json derives are recomputed from the matrices and must match the stored ones."""
        epsilons = numbers(obj, "epsilons", place)
        k_fractions = numbers(obj, "k_fractions", place, optional=True)
        matrices = get(obj, "matrices", place)
        if not isinstance(matrices, list):
            raise InputError(f"{place}: field 'matrices' should be a list")
        skipped = get(obj, "skipped", place, [])
        if not isinstance(skipped, list):
            raise InputError(f"{place}: field 'skipped' should be a list")
        warnings = get(obj, "warnings", place, [])
        if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
            raise InputError(f"{place}: field 'warnings' should be a list of strings")
        result = cls(
            version=text(obj, "lorascope_version", place, optional=True) or "",
            base=text(obj, "base", place, optional=True) or "", tuned=text(obj, "tuned", place, optional=True) or "",
            tuned_kind=text(obj, "tuned_kind", place, optional=True) or "", k=integer(obj, "k", place, minimum=1),
            epsilon=number(obj, "epsilon", place), epsilons=epsilons, k_fractions=k_fractions,
            matrices=[MatrixResult.from_dict(m, f"{place} matrices[{i}]", len(epsilons),
                                             None if k_fractions is None else len(k_fractions))
                      for i, m in enumerate(matrices)],
            skipped=[(text(s, "name", f"{place} skipped[{i}]"), text(s, "reason", f"{place} skipped[{i}]"))
                     for i, s in enumerate(skipped)],
            warnings=list(warnings), seconds=number(obj, "seconds", place, optional=True) or 0.0)
        _check_total(place, "epsilon_totals", list(integers(obj, "epsilon_totals", place, length=len(epsilons))),
                     result.epsilon_totals())
        k_totals = integers(obj, "k_fraction_totals", place, optional=True,
                            length=None if k_fractions is None else len(k_fractions))
        if (k_fractions is None) != (k_totals is None):
            raise InputError(f"{place}: 'k_fractions' and 'k_fraction_totals' must both be lists or both null")
        _check_total(place, "k_fraction_totals", _optional_list(k_totals), result.k_fraction_totals())
        _check_total(place, "total_intruders", integer(obj, "total_intruders", place, optional=True),
                     result.total_intruders)
        return result

    @classmethod
    def load(cls, path: str | Path) -> ScanResult:
        """The scan JSON that save_json wrote at `path`; InputError naming the file on anything malformed."""
        path = Path(path)
        return cls.from_json(read_json(path), str(path))


def _optional_list(values: tuple | None) -> list | None:
    return None if values is None else list(values)


def _check_total(place: str, key: str, stored: object, derived: object) -> None:
    """A stored total (absent: None) must be what the matrices add up to, or the file contradicts itself."""
    if stored is not None and derived is not None and stored != derived:
        raise InputError(f"{place}: field {key!r} is {stored!r} but the matrices add up to {derived!r}")


def _top_vectors(entries: object, place: str) -> list[TopVector]:
    if not isinstance(entries, list):
        raise InputError(f"{place}: field 'top' should be a list")
    top = []
    for j, t in enumerate(entries):
        at = f"{place} top[{j}]"
        flag = get(t, "intruder", at)
        if not isinstance(flag, bool):
            raise InputError(f"{at}: field 'intruder' should be true or false, got {flag!r}")
        top.append(TopVector(index=integer(t, "index", at, minimum=0), sigma=number(t, "sigma", at),
                             max_cos=number(t, "max_cos", at), base_index=integer(t, "base_index", at, minimum=0),
                             intruder=flag))
    return top


def _similarity(rows: object, place: str) -> torch.Tensor:
    """The n × n |cos| map as float32 (what analyze_matrix returns); null -> an empty (0, 0) tensor."""
    if rows is None:
        return torch.zeros(0, 0)
    n = len(rows) if isinstance(rows, list) else -1
    if not (n >= 0 and all(isinstance(r, list) and len(r) == n and all(is_number(v) for v in r) for r in rows)):
        raise InputError(f"{place}: field 'similarity' should be a square n × n list of numbers")
    if any(v < -1e-6 or v > 1 + 1e-3 for r in rows for v in r):
        raise InputError(f"{place}: field 'similarity' has values outside [0, 1] (it holds |cos|)")
    return torch.tensor(rows, dtype=torch.float32).reshape(n, n)


def _delta(obj: object, place: str) -> DeltaStats | None:
    if obj is None:
        return None
    at = f"{place} delta"
    return DeltaStats(**{f.name: (integer(obj, f.name, at) if f.type in (int, "int") else number(obj, f.name, at))
                         for f in fields(DeltaStats)})
