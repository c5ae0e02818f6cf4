"""ScanResult.load / from_json: a saved scan reads back to the same result, and a damaged file fails naming itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from peft import LoraConfig

import lorascope
from fixtures import models
from lorascope.errors import InputError
from lorascope.results import MatrixResult, ScanResult


@pytest.fixture(scope="module")
def scans(tmp_path_factory) -> dict[str, tuple[ScanResult, Path]]:
    """Real scans of a tiny BERT, saved: an adapter with a k-fraction sweep, a full checkpoint without ΔW stats."""
    root = tmp_path_factory.mktemp("load")
    model = models.build("bert")
    models.save_model(model, root / "base")
    art = models.make_adapter(model, root / "adapter", LoraConfig(r=4, lora_alpha=8, target_modules=["query"]),
                              seed=3)
    models.save_model(models.perturbed(model, scale=0.02), root / "full")
    lora = lorascope.scan(root / "base", art.path, k=5, k_fractions=(0.25, 1.0))
    full = lorascope.scan(root / "base", root / "full", k=4, update_stats=False)
    return {name: (r, r.save_json(root / f"{name}.json")) for name, r in (("lora", lora), ("full", full))}


@pytest.mark.parametrize("name", ["lora", "full"])
def test_saved_scan_loads_back_to_the_same_result(scans, name, tmp_path):
    result, path = scans[name]
    back = ScanResult.load(path)
    assert back.to_json() == result.to_json()
    assert back.save_json(tmp_path / "again.json").read_bytes() == path.read_bytes()
    assert (back.k, back.epsilon, back.epsilons, back.k_fractions) == (result.k, result.epsilon, result.epsilons,
                                                                        result.k_fractions)
    assert back.epsilon_totals() == result.epsilon_totals() and back.total_intruders == result.total_intruders
    for a, b in zip(back.matrices, result.matrices, strict=True):
        assert (a.name, a.shape, a.analysis.top) == (b.name, b.shape, b.analysis.top)
        assert a.analysis.delta == b.analysis.delta
        assert (a.analysis.epsilon_counts, a.analysis.k_fraction_counts) == (b.analysis.epsilon_counts,
                                                                             b.analysis.k_fraction_counts)
        assert a.analysis.similarity.dtype == b.analysis.similarity.dtype == torch.float32
        stored = [[round(float(x), 6) for x in row] for row in b.analysis.similarity.tolist()]  # the JSON's 6 digits
        assert torch.equal(a.analysis.similarity, torch.tensor(stored, dtype=torch.float32))
    assert any(m.intruders for m in back.matrices) if name == "lora" else True
    assert (back.matrices[0].analysis.delta is None) == (name == "full")


def test_matrix_fields_derived_from_the_name(scans):
    m = scans["lora"][0].matrices[0]
    assert (m.layer, m.module_type) == (0, "attention.self.query")
    assert m.intruder_columns == tuple(t.index for t in m.analysis.top if t.intruder)
    assert m.effective_rank == m.analysis.delta.effective_rank


def _broken(path: Path, tmp_path: Path, change) -> Path:
    obj = json.loads(path.read_text())
    change(obj)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(obj))
    return bad


@pytest.mark.parametrize(("change", "message", "in_matrix"), [
    (lambda o: o["matrices"][0]["top"][1].update(max_cos="high"), "top[1]: field 'max_cos' should be a finite number",
     True),
    (lambda o: o["matrices"][0].update(intruders=o["matrices"][0]["intruders"] + 1), "entries of 'top' are marked",
     True),
    (lambda o: o.update(epsilon_totals=[t + 1 for t in o["epsilon_totals"]]), "'epsilon_totals' is", False),
    (lambda o: o["matrices"][0].update(epsilon_counts=[1]), "'epsilon_counts' has 1 entries, expected 9", True),
    (lambda o: o["matrices"][0].update(similarity=[[0.5, 0.5]]), "'similarity' should be a square", True),
    (lambda o: o["matrices"][0]["delta"].pop("fro_norm"), "delta: missing field 'fro_norm'", True),
    (lambda o: o.update(k_fraction_totals=None), "must both be lists or both null", False),
])
def test_a_damaged_scan_names_the_file_the_matrix_and_the_field(scans, tmp_path, change, message, in_matrix):
    _, path = scans["lora"]
    bad = _broken(path, tmp_path, change)
    with pytest.raises(InputError, match="bad.json") as e:
        ScanResult.load(bad)
    assert message in str(e.value)
    assert (json.loads(path.read_text())["matrices"][0]["name"] in str(e.value)) == in_matrix


def test_not_json_and_missing_files_are_input_errors(tmp_path):
    (tmp_path / "cut.json").write_text('{"matrices": [')
    with pytest.raises(InputError, match="cut.json: not valid JSON"):
        ScanResult.load(tmp_path / "cut.json")
    with pytest.raises(InputError, match="nope.json: cannot read"):
        ScanResult.load(tmp_path / "nope.json")
    with pytest.raises(InputError, match="m: expected a JSON object"):
        MatrixResult.from_dict([], "m")
