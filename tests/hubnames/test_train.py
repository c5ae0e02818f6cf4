"""train --model takes a Hub id; its adapter names that id (as PEFT would) and then scans alone."""

from __future__ import annotations

import json

from hubnames.conftest import BASE_ID
from lorascope import scan
from lorascope.pipelines.train import TrainConfig, train


def test_train_on_a_hub_id_then_scan_its_adapter_alone(offline, tmp_path):
    config = TrainConfig(model=f"{BASE_ID}@main", task="rt_polarity", train_examples=16, test_examples=8,
                         batch_size=8, max_length=16, max_steps=2, forget_chunks=1, forget_chunk_length=16, k=2,
                         lr=1e-2, eval_every=2, save_every=2)
    result = train(config, tmp_path / "run", cache_dir=tmp_path / "cache")
    adapter = tmp_path / "run" / result.final["checkpoint"]
    recorded = json.loads((adapter / "adapter_config.json").read_text())
    assert (recorded["base_model_name_or_path"], recorded["revision"]) == (BASE_ID, "main")  # as PEFT records it
    alone = scan(adapter, k=2, cache=False)
    given = scan(offline.base_a, adapter, k=2, cache=False)
    assert alone.total_intruders == given.total_intruders
    assert [m.analysis.top[0].max_cos for m in alone.matrices] == [m.analysis.top[0].max_cos for m in given.matrices]
