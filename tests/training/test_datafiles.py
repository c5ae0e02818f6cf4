"""The user's data files: every format reads to the same task, splits are seeded, bad data is one clear line."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lorascope.datafiles import DataSpec, load_data_task, read_documents
from lorascope.errors import InputError

ROWS = [("a fine film", "pos"), ("dull, slow and long", "neg"), ("loved it", "pos"), ("meh", "neg"),
        ("great cast, weak plot", "neg"), ("the best this year", "pos")]


def write(path: Path, rows: list[tuple], columns=("text", "label")) -> Path:
    """`rows` in the format of `path`'s suffix, written with the standard library or pyarrow."""
    if path.suffix in (".csv", ".tsv"):
        import csv

        with path.open("w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, delimiter="\t" if path.suffix == ".tsv" else ",")
            w.writerow(columns)
            w.writerows(rows)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(dict(zip(columns, r, strict=True))) + "\n" for r in rows))
    else:
        pq.write_table(pa.table({c: [r[i] for r in rows] for i, c in enumerate(columns)}), path)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".jsonl", ".parquet"])
def test_every_format_reads_to_the_same_task(tmp_path, suffix):
    train = write(tmp_path / f"train{suffix}", ROWS)
    test = write(tmp_path / f"test{suffix}", [("pretty good", "pos"), ("awful", "neg")])
    task = load_data_task(DataSpec(train=str(train), test=str(test)))
    assert task.name == "train" and task.labels == ("neg", "pos")
    assert task.train == [(t, 1 if y == "pos" else 0) for t, y in ROWS]
    assert task.test == [("pretty good", 1), ("awful", 0)]


def test_integer_labels_sort_numerically_and_columns_are_chosen(tmp_path):
    rows = [(f"text {i}", i % 3 * 5, "x") for i in range(9)]  # labels 0, 5, 10
    path = write(tmp_path / "d.jsonl", rows, columns=("body", "y", "other"))
    task = load_data_task(DataSpec(train=str(path), text_column="body", label_column="y", test_fraction=0.34))
    assert task.labels == ("0", "5", "10")
    assert len(task.test) == 3 and len(task.train) == 6
    by_text = dict(task.train + task.test)
    assert all(by_text[f"text {i}"] == i % 3 for i in range(9))


def test_test_fraction_split_is_seeded_and_disjoint(tmp_path):
    rows = [(f"review number {i}", "pos" if i % 2 else "neg") for i in range(40)]
    path = write(tmp_path / "d.csv", rows)
    a = load_data_task(DataSpec(train=str(path), test_fraction=0.25, split_seed=1))
    assert a == load_data_task(DataSpec(train=str(path), test_fraction=0.25, split_seed=1))
    b = load_data_task(DataSpec(train=str(path), test_fraction=0.25, split_seed=2))
    assert len(a.test) == 10 and len(a.train) == 30 and a.test != b.test
    assert {t for t, _ in a.train}.isdisjoint({t for t, _ in a.test})
    assert sorted(a.train + a.test) == sorted(b.train + b.test)


def test_lm_objective_needs_no_label_column(tmp_path):
    path = write(tmp_path / "d.jsonl", [("first document",), ("second one",), ("third",)], columns=("text",))
    task = load_data_task(DataSpec(train=str(path), test_fraction=0.34), objective="lm")
    assert task.labels == () and len(task.test) == 1 and len(task.train) == 2
    assert all(y == -1 for _, y in task.train + task.test)


def test_documents_from_plain_text_and_jsonl(tmp_path):
    txt = tmp_path / "docs.txt"
    txt.write_text("one document\n\n  \nanother one\n")
    assert read_documents(txt) == ["one document", "another one"]
    jsonl = write(tmp_path / "docs.jsonl", [("alpha", 1), ("beta", 2)], columns=("content", "n"))
    assert read_documents(jsonl, text_column="content") == ["alpha", "beta"]


def _error(tmp_path, name: str, content: str | bytes, **spec) -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(InputError) as caught:
        load_data_task(DataSpec(train=str(path), **spec))
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


def test_bad_data_is_one_line_naming_file_and_problem(tmp_path):
    assert "no column 'label'; columns present: text, stars" in _error(
        tmp_path, "a.csv", "text,stars\nhi,1\nho,2\n")
    assert "empty file" in _error(tmp_path, "b.csv", "")
    assert "empty file" in _error(tmp_path, "c.jsonl", "")
    assert "a header but no rows" in _error(tmp_path, "d.csv", "text,label\n")
    assert "single class ('pos')" in _error(tmp_path, "e.csv", "text,label\na,pos\nb,pos\nc,pos\n")
    assert "line 4: cannot be parsed" in _error(tmp_path, "f.csv", "text,label\na,0\nb,1\nc,1,extra\nd,0\n")
    assert "line 4: cannot be parsed" in _error(tmp_path, "g.jsonl",
                                                '{"text":"a","label":0}\n\n{"text":"b","label":1}\n{"text": oops}\n')
    assert "row 2: empty text" in _error(tmp_path, "h.tsv", "text\tlabel\na\t0\n \t1\nc\t1\n")
    assert "line 2: no label" in _error(tmp_path, "i.jsonl", '{"text":"a","label":0}\n{"text":"b"}\n'
                                                                 '{"text":"c","label":1}\n')
    assert "neither a string nor an integer" in _error(tmp_path, "j.csv", "text,label\na,0.5\nb,1\n")
    assert "unknown data format '.xlsx'" in _error(tmp_path, "k.xlsx", "x")
    assert "not a readable Parquet file" in _error(tmp_path, "l.parquet", b"PAR1 not really")


def test_test_label_never_seen_in_training(tmp_path):
    train = write(tmp_path / "train.csv", [("a", "pos"), ("b", "neg")])
    test = write(tmp_path / "test.csv", [("c", "pos"), ("d", "neutral")])
    with pytest.raises(InputError, match=r"test.csv: label 'neutral' of the test split never occurs in the "
                                         r"training split of .*train.csv \(training labels: neg, pos\)"):
        load_data_task(DataSpec(train=str(train), test=str(test)))


def test_bad_specs_and_documents(tmp_path):
    with pytest.raises(InputError, match="test_fraction must be in"):
        DataSpec(train="x.csv", test_fraction=1.0)
    with pytest.raises(InputError, match="nope.csv: not a file"):
        load_data_task(DataSpec(train=str(tmp_path / "nope.csv")))
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    with pytest.raises(InputError, match="empty.txt: empty file"):
        read_documents(empty)
    with pytest.raises(InputError, match=r"no column 'text'; columns present: body"):
        read_documents(write(tmp_path / "d.jsonl", [("x",)], columns=("body",)))
