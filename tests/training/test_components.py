"""Small components: batch orders, padding, chunking of held-out text, task registry, LR schedule."""

from __future__ import annotations

import json

import pytest
import torch

from lorascope.errors import InputError
from lorascope.training.data import epoch_batches, pad_right, take_subset
from lorascope.training.lm import causal_chunks
from lorascope.training.optim import linear_schedule
from lorascope.training.registry import TASKS, load_task


def test_epoch_batches_are_seeded_permutations():
    a = epoch_batches(50, 8, seed=3, epoch=0)
    assert a == epoch_batches(50, 8, seed=3, epoch=0)
    assert a != epoch_batches(50, 8, seed=3, epoch=1) and a != epoch_batches(50, 8, seed=4, epoch=0)
    flat = [i for batch in a for i in batch]
    assert len(a) == 6 and all(len(b) == 8 for b in a) and len(set(flat)) == 48


def test_take_subset_is_fixed_and_prefix_stable():
    rows = list(range(100))
    assert take_subset(rows, 10) == take_subset(rows, 10)
    assert take_subset(rows, 20)[:10] == take_subset(rows, 10)
    assert take_subset(rows, None) == rows


def test_pad_right():
    ids, mask = pad_right([[5, 6, 7], [8]], pad_id=0)
    assert ids.tolist() == [[5, 6, 7], [8, 0, 0]] and mask.tolist() == [[1, 1, 1], [1, 0, 0]]


def test_causal_chunks_with_and_without_bos():
    docs = [[10, 11, 12], [20, 21]]  # stream: 10 11 12 E 20 21 E
    with_bos = causal_chunks(docs, length=4, eos_id=2, bos_id=1)
    assert with_bos.input_ids == [[1, 10, 11, 12], [1, 2, 20, 21], [1, 2]]
    assert with_bos.target_docs == [[0, 0, 0], [0, 1, 1], [1]]
    plain = causal_chunks(docs, length=4, eos_id=2)
    assert plain.input_ids == [[10, 11, 12, 2], [20, 21, 2]]
    assert plain.target_docs == [[0, 0, 0], [1, 1]]
    assert causal_chunks(docs, 4, 2, 1, max_chunks=1).tokens == 3


def test_rolling_prefix_is_bos_else_eos():
    from types import SimpleNamespace

    from lorascope.training.lm import prefix_token

    assert prefix_token(SimpleNamespace(bos_token_id=2, eos_token_id=1)) == 2  # Gemma / LLaMA: <bos>
    assert prefix_token(SimpleNamespace(bos_token_id=None, eos_token_id=7)) == 7  # e.g. Qwen: no BOS, EOS
    with pytest.raises(InputError, match="neither"):
        prefix_token(SimpleNamespace(bos_token_id=None, eos_token_id=None))


def test_linear_schedule_warms_up_then_decays():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = linear_schedule(opt, total_steps=50, warmup=0.06)  # 3 warm-up steps
    lrs = []
    for _ in range(50):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[:4] == pytest.approx([0, 1 / 3, 2 / 3, 1]) and lrs[-1] == pytest.approx(1 / 47)


@pytest.mark.parametrize("name", list(TASKS))
def test_registered_tasks_load(name):
    task = load_task(name)
    assert len(task.labels) >= 2 and len(task.train) > len(task.test) > 0
    assert {y for _, y in task.train} == set(range(len(task.labels)))
    if name != "rt_polarity":  # the demo's loader keeps RT's duplicates; train() drops test texts itself
        texts = [t for t, _ in task.train + task.test]
        assert len(set(texts)) == len(texts)


def test_unknown_task_lists_the_known_ones():
    with pytest.raises(InputError, match="rt_polarity, bbc_topic, hoc_party, debate_party, health_source"):
        load_task("mnli")


def test_a_kept_number_is_computed_once_and_a_damaged_entry_again(tmp_path):
    from lorascope.training.bottom import load_or_compute_number

    calls = []

    def compute() -> float:
        calls.append(1)
        return 2.718281828459045

    assert load_or_compute_number(tmp_path, "k", compute) == 2.718281828459045
    assert load_or_compute_number(tmp_path, "k", compute) == 2.718281828459045 and len(calls) == 1
    (tmp_path / "k.json").write_text("{not json")
    assert load_or_compute_number(tmp_path, "k", compute) == 2.718281828459045 and len(calls) == 2
    assert load_or_compute_number(tmp_path, "k", compute) == 2.718281828459045 and len(calls) == 2


def test_length_batches_cover_every_index_once_shortest_first():
    from lorascope.training.runners import length_batches

    seqs = [[1] * n for n in (5, 2, 9, 2, 7, 1, 3)]
    batches = length_batches(seqs, 3)
    flat = [i for b in batches for i in b]
    assert sorted(flat) == list(range(len(seqs))) and all(len(b) <= 3 for b in batches)
    assert [len(seqs[i]) for i in flat] == sorted(len(s) for s in seqs)
    assert length_batches([], 4) == []


def test_accuracy_in_length_sorted_batches_equals_one_example_at_a_time(llama_dir):
    from lorascope.training.data import encode
    from lorascope.training.modeling import build_classifier
    from lorascope.training.runners import ExampleRunner

    clf = build_classifier(llama_dir, 2, "full", 0, None, None, 0)
    rows = load_task("rt_polarity").test[:40]
    runner = ExampleRunner(clf.model.eval(), encode(clf.tokenizer, rows, 32), clf.pad_id)
    one_by_one = sum(int(runner.logits([i]).argmax(-1)[0] == rows[i][1]) for i in range(len(rows))) / len(rows)
    assert runner.accuracy(batch_size=7) == one_by_one


def test_a_tokenizer_is_loaded_once_per_thread_until_its_files_change(llama_dir, tmp_path):
    import shutil
    import threading

    from lorascope.training.modeling import load_tokenizer

    folder = tmp_path / "model"
    shutil.copytree(llama_dir, folder)
    first = load_tokenizer(folder)
    assert load_tokenizer(folder) is first and load_tokenizer(folder.parent / "." / "model") is first
    elsewhere = []
    worker = threading.Thread(target=lambda: elsewhere.append(load_tokenizer(folder)))
    worker.start()
    worker.join()
    assert elsewhere[0] is not first  # another thread gets its own (fast tokenizers keep call state)
    assert elsewhere[0]("a film")["input_ids"] == first("a film")["input_ids"]
    (folder / "lorascope-bos-checked.json").write_text("{}")  # lorascope's own marker: no tokenizer reads it
    assert load_tokenizer(folder) is first
    config = folder / "tokenizer_config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "model_max_length": 77}))
    changed = load_tokenizer(folder)
    assert changed is not first and changed.model_max_length == 77
    with pytest.raises(OSError):
        load_tokenizer(tmp_path / "missing")


def test_model_fingerprint_follows_content_and_is_hashed_once(llama_dir, tmp_path):
    import os
    import shutil

    from lorascope.training import bottom

    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(llama_dir, a)
    shutil.copytree(llama_dir, b)
    before = bottom._content_hash.cache_info().misses
    fp = bottom.model_fingerprint(a)
    assert bottom.model_fingerprint(a) == fp == bottom.model_fingerprint(b)  # content, not the folder's name
    assert bottom._content_hash.cache_info().misses == before + 2  # a once, b once; the repeat is not read
    weights = next(a.glob("*.safetensors"))
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 1))
    assert bottom.model_fingerprint(a) != fp
