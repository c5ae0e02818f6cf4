"""Validate a `lorascope scan` JSON (the README's schema) or the demo's `{label: {accuracy, scan}}` file."""

from __future__ import annotations

from pathlib import Path

from lorascope.errors import InputError
from lorascope.json_fields import get, integer, integers, is_number, number, numbers, text
from lorascope.report.data import MatrixData, ScanData, TopVector

SCAN_KEYS = ("matrices", "epsilons", "epsilon_totals", "k", "epsilon")


def is_scan(obj: object) -> bool:
    """Whether a loaded JSON value has the shape of a scan result."""
    return isinstance(obj, dict) and all(key in obj for key in SCAN_KEYS)


def is_demo(obj: object) -> bool:
    """Whether a loaded JSON value is the demo's {label: {"accuracy": float, "scan": scan}} file."""
    return (isinstance(obj, dict) and bool(obj)
            and all(isinstance(v, dict) and is_scan(v.get("scan")) for v in obj.values()))


def _layer_and_module(m: dict, name: str, place: str) -> tuple[int | None, str]:
    if "layer" in m and "module_type" in m:
        return integer(m, "layer", place, optional=True, minimum=0), text(m, "module_type", place)
    from lorascope.results import layer_of, module_type_of  # older files: derive them as scan does

    return layer_of(name), module_type_of(name)


def _similarity(m: dict, place: str) -> tuple[tuple[float, ...], ...] | None:
    rows = m.get("similarity")
    if rows is None:
        return None
    n = len(rows) if isinstance(rows, list) else -1
    ok = n > 0 and all(isinstance(r, list) and len(r) == n and all(is_number(v) for v in r) for r in rows)
    if not ok:
        raise InputError(f"{place}: field 'similarity' should be a square n × n list of numbers")
    if any(v < -1e-6 or v > 1 + 1e-3 for r in rows for v in r):
        raise InputError(f"{place}: field 'similarity' has values outside [0, 1] (it holds |cos|)")
    return tuple(tuple(min(max(float(v), 0.0), 1.0) for v in r) for r in rows)


def _top(m: dict, place: str) -> tuple[TopVector, ...]:
    entries = get(m, "top", place)
    if not isinstance(entries, list):
        raise InputError(f"{place}: field 'top' should be a list")
    top = []
    for j, t in enumerate(entries):
        at = f"{place} top[{j}]"
        flag = get(t, "intruder", at)
        if not isinstance(flag, bool):
            raise InputError(f"{at}: field 'intruder' should be true or false, got {flag!r}")
        top.append(TopVector(integer(t, "index", at, minimum=0), number(t, "sigma", at),
                             number(t, "max_cos", at), flag))
    return tuple(top)


def _matrix(m: dict, place: str) -> MatrixData:
    name = text(m, "name", place)
    place = f"{place} ({name})"
    top = _top(m, place)
    intruders = integer(m, "intruders", place, minimum=0)
    if intruders != sum(t.intruder for t in top):
        raise InputError(f"{place}: 'intruders' is {intruders} but {sum(t.intruder for t in top)} "
                         f"entries of 'top' are marked intruder")
    layer, module = _layer_and_module(m, name, place)
    delta = m.get("delta")
    erank = delta.get("effective_rank") if isinstance(delta, dict) else None
    if erank is not None and not isinstance(erank, (int, float)):
        raise InputError(f"{place}: field 'delta.effective_rank' should be a number, got {erank!r}")
    erank = float(erank) if erank is not None and is_number(erank) else None
    return MatrixData(name, intruders, top, layer, module, erank, _similarity(m, place))


def parse_scan(obj: dict, path: Path, label: str, accuracy: float | None = None, inner: str = "") -> ScanData:
    """A validated ScanData; InputError naming the file (and matrix) on any wrong field."""
    place = f"{path}{inner}"
    epsilons = numbers(obj, "epsilons", place)
    totals = integers(obj, "epsilon_totals", place, length=len(epsilons))
    k_fractions = numbers(obj, "k_fractions", place, optional=True)
    k_totals = integers(obj, "k_fraction_totals", place, optional=True,
                        length=None if k_fractions is None else len(k_fractions))
    if (k_fractions is None) != (k_totals is None):
        raise InputError(f"{place}: 'k_fractions' and 'k_fraction_totals' must both be lists or both null")
    matrices = get(obj, "matrices", place)
    if not isinstance(matrices, list):
        raise InputError(f"{place}: field 'matrices' should be a list")
    parsed = tuple(_matrix(m, f"{place} matrices[{i}]") for i, m in enumerate(matrices))
    return ScanData(label=label, path=path, tuned=str(obj.get("tuned", "")), tuned_kind=str(obj.get("tuned_kind", "")),
                    k=integer(obj, "k", place, minimum=1), epsilon=number(obj, "epsilon", place),
                    epsilons=epsilons, epsilon_totals=totals, k_fractions=k_fractions, k_fraction_totals=k_totals,
                    matrices=parsed, accuracy=accuracy)


def parse_demo(obj: dict, path: Path) -> list[ScanData]:
    """The scans of the demo's JSON, labelled by its keys ("LoRA r=8", "full fine-tuning")."""
    scans = []
    for label, entry in obj.items():
        acc = entry.get("accuracy")
        acc = float(acc) if is_number(acc) else None
        scans.append(parse_scan(entry["scan"], path, str(label), acc, inner=f" [{label!r}].scan"))
    return scans
