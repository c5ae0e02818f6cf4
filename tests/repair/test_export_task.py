"""bench/export_task.py writes files that `train --data` / `repair --data` read back as the registry's rows."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lorascope.datafiles import DataSpec, load_data_task, read_documents
from lorascope.datasets import TextTask

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from export_task import export, task_rows  # noqa: E402

TEXTS = ['plain', 'with, a comma', 'a "quoted" word', 'two\nlines', 'ünïcode ✓', '  spaced  ', 'x' * 300, '0']
TASK = TextTask("toy", ("neg", "pos"), [(t, i % 2) for i, t in enumerate(TEXTS)] + [("also in test", 0)],
                [("also in test", 0), ("held out", 1), ("third", 0)])


def test_rows_are_the_registry_subsets():
    train, val = task_rows(TASK, 5, 2)
    assert val == TASK.test[:2]
    assert len(train) == 5 and ("also in test", 0) not in train  # a test text is never a training row
    assert task_rows(TASK, None, None)[0] == [r for r in TASK.train if r[0] != "also in test"]


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_labelled_files_read_back_exactly(fmt, tmp_path):
    written = export(TASK, tmp_path, None, None, fmt)
    assert [(p.name, n) for p, n in written] == [(f"train.{fmt}", len(TEXTS)), (f"val.{fmt}", 3)]
    back = load_data_task(DataSpec(train=str(tmp_path / f"train.{fmt}"), test=str(tmp_path / f"val.{fmt}")))
    train, val = task_rows(TASK, None, None)
    assert back.train == train and back.test == val
    assert back.labels == ("0", "1")  # integer labels: the registry's index order, not the names' sort


def test_text_only_and_skipped_split(tmp_path):
    written = export(TASK, tmp_path, 0, None, "jsonl", text_only=True)
    assert [p.name for p, _ in written] == ["val.jsonl"] and not (tmp_path / "train.jsonl").exists()
    assert read_documents(tmp_path / "val.jsonl") == [t for t, _ in TASK.test]
    assert '"label"' not in (tmp_path / "val.jsonl").read_text()
