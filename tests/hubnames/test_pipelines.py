"""Every pipeline that takes a model or adapter takes a Hub id, and gives the numbers of the local folders."""

from __future__ import annotations

import json

import pytest

from hubnames.conftest import ADAPTER_ID, BASE_ID
from lorascope import scan
from lorascope.errors import InputError
from lorascope.pipelines.forget import ForgetOptions, forget
from lorascope.pipelines.index import build_index
from lorascope.pipelines.multi_scan import multi_scan
from lorascope.pipelines.scale import scale
from lorascope.pipelines.scan import ScanOptions


def numbers(result) -> list[tuple]:
    return [(m.name, m.shape, m.analysis.intruders, [t.max_cos for t in m.analysis.top]) for m in result.matrices]


@pytest.fixture
def local_scan(hub):
    return scan(hub.base_a, hub.adapter, k=3, cache=False)


def test_scan_hub_base_and_hub_adapter_equals_the_local_folders(offline, local_scan):
    result = scan(BASE_ID, ADAPTER_ID, k=3, cache=False)
    assert numbers(result) == numbers(local_scan) and len(result.matrices) == 6  # q_proj, v_proj of 3 layers
    assert (result.base, result.tuned) == (BASE_ID, ADAPTER_ID)


def test_scan_adapter_alone_takes_the_base_its_config_names(offline, local_scan):
    for result in (scan(ADAPTER_ID, k=3, cache=False), scan(None, offline.adapter, k=3, cache=False)):
        assert numbers(result) == numbers(local_scan)
        assert result.base == BASE_ID


def test_scan_against_another_revision_differs(offline, local_scan):
    """@v2 is another base (seed 1): the same adapter measured against it gives other cosines."""
    other = scan(f"{BASE_ID}@v2", ADAPTER_ID, k=3, cache=False)
    assert [n[:2] for n in numbers(other)] == [n[:2] for n in numbers(local_scan)]
    assert numbers(other) != numbers(local_scan)
    assert other.base == f"{BASE_ID}@v2"


def test_index_of_a_hub_id_fills_the_index_a_local_scan_then_hits(offline, tmp_path, hub):
    report = build_index(BASE_ID, cache_dir=tmp_path / "index", include=("q_proj",))
    assert report.base == BASE_ID and report.count("built") == 3  # 3 layers' q_proj
    warm = scan(hub.base_a, hub.adapter, k=3, cache_dir=tmp_path / "index", include=("q_proj",))
    assert warm.base_spectra_computed == 0  # the same tensors, whichever name they were read by


def test_scale_adapter_alone_writes_a_peft_adapter_that_still_names_its_base(offline, tmp_path):
    result = scale(None, ADAPTER_ID, tmp_path / "out", 0.5, target="all-intruders", k=3, epsilon=0.9)
    assert (result.base, result.tuned) == (BASE_ID, ADAPTER_ID)
    written = json.loads((tmp_path / "out" / "adapter_config.json").read_text())
    assert written["base_model_name_or_path"] == BASE_ID
    assert (tmp_path / "out" / "adapter_model.safetensors").is_file()
    assert not (tmp_path / "out" / "adapter_model.safetensors").is_symlink()  # a copy, not a link into the cache


def test_multi_scan_with_no_base_uses_the_adapters_named_base(offline, tmp_path, local_scan):
    report = multi_scan(None, [offline.adapter], tmp_path / "scans", ScanOptions(k=3, cache=False))
    assert report.base == BASE_ID and len(report.scans) == 1
    assert numbers(report.scans[0].result) == numbers(local_scan)


def test_forget_with_an_adapter_alone_scores_its_named_base(offline, hub, tmp_path):
    text = tmp_path / "docs.txt"
    text.write_text("the film was a quiet triumph.\nmarkets fell sharply on tuesday.\n")
    opts = ForgetOptions(threads=1)
    local = forget(hub.base_a, adapter=hub.adapter, text=text, options=opts)
    named = forget(None, adapter=ADAPTER_ID, text=text, options=opts)
    assert named.model == BASE_ID and named.adapter == ADAPTER_ID
    assert (named.loss, named.base_loss) == (local.loss, local.base_loss)
    assert named.forgetting is not None and named.forgetting != 0


def test_forget_needs_a_model_or_an_adapter(offline):
    with pytest.raises(InputError, match="give MODEL, or --adapter"):
        forget(None)
