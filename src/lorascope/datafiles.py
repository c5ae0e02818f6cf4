"""The user's own data: a labelled (or unlabelled) text task, or held-out documents, read from a file.

Formats by suffix, read with pyarrow (no hand-written parser): `.csv`, `.tsv` / `.tab` (tab-separated,
header row), `.jsonl` / `.ndjson` (one JSON object per line), `.parquet` / `.pq`; documents for the
forgetting text may also be plain text (`.txt` or any other suffix: one document per line, blank lines
between documents ignored).

Every problem is one InputError line naming the file: a missing column (with the columns present), an
empty file, an unparseable line, an empty or missing text, a missing label, labels that are neither
strings nor integers, a single class, a test label never seen in training.
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from lorascope.datasets import TextTask
from lorascope.errors import InputError

TABLE_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".tab": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
                  ".parquet": "parquet", ".pq": "parquet"}
Objective = Literal["classify", "lm"]


@dataclass(frozen=True)
class DataSpec:
    """A task read from the user's files (`train --data`, a recipe's `[data]` table)."""

    train: str = field(metadata={"help": "training file (.csv, .tsv, .jsonl, .parquet)"})
    test: str | None = field(default=None, metadata={
        "help": "held-out file in the same layout (default: a seeded test_fraction of the training file)"})
    test_fraction: float = field(default=0.1, metadata={
        "help": "share of the training file held out when no test file is given"})
    split_seed: int = field(default=0, metadata={"help": "seed of the shuffle that draws the held-out rows"})
    text_column: str = field(default="text", metadata={"help": "column holding the text"})
    label_column: str = field(default="label", metadata={
        "help": "column holding the label, a string or an integer (classification only)"})

    def __post_init__(self) -> None:
        if not isinstance(self.train, str) or not self.train:
            raise InputError(f"data train must be a file path; got {self.train!r}")
        fraction = self.test_fraction
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float)) or not 0 < fraction < 1:
            raise InputError(f"test_fraction must be in (0, 1); got {fraction!r}")
        if isinstance(self.split_seed, bool) or not isinstance(self.split_seed, int) or self.split_seed < 0:
            raise InputError(f"split_seed must be an integer ≥ 0; got {self.split_seed!r}")
        for name in ("text_column", "label_column"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise InputError(f"{name} must be a column name; got {getattr(self, name)!r}")

    @property
    def name(self) -> str:
        """The task's name in run ids and tables: the training file's stem."""
        return re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(self.train).stem) or "data"


def load_data_task(spec: DataSpec, objective: Objective = "classify") -> TextTask:
    """The task of `spec`: (text, label index) rows, labels sorted (numerically for integer labels).

    objective "lm": texts only (the label column is not read); every row's label is -1 and `labels` is ().
    Without a test file, a seeded shuffle holds out round(test_fraction × rows) rows (at least one).
    """
    train_path = Path(spec.train)
    train_texts, train_raw = _read_rows(train_path, spec, objective)
    if spec.test is not None:
        test_texts, test_raw = _read_rows(Path(spec.test), spec, objective)
        train_rows, test_rows = list(zip(train_texts, train_raw, strict=True)), list(zip(test_texts, test_raw,
                                                                                         strict=True))
        test_where = spec.test
    else:
        rows = list(zip(train_texts, train_raw, strict=True))
        if len(rows) < 2:
            raise InputError(f"{train_path}: {len(rows)} row(s); a held-out split needs at least 2 "
                             "(or give a test file)")
        order = list(range(len(rows)))
        random.Random(spec.split_seed).shuffle(order)
        n_test = min(len(rows) - 1, max(1, round(spec.test_fraction * len(rows))))
        test_rows = [rows[i] for i in order[:n_test]]
        train_rows = [rows[i] for i in order[n_test:]]
        test_where = f"{train_path} (held-out {spec.test_fraction:g}, split_seed {spec.split_seed})"
    if objective == "lm":
        return TextTask(spec.name, (), [(t, -1) for t, _ in train_rows], [(t, -1) for t, _ in test_rows])
    labels = sorted({y for _, y in train_rows}, key=lambda y: (isinstance(y, str), y))
    if len(labels) < 2:
        raise InputError(f"{train_path}: column '{spec.label_column}' has a single class ({labels[0]!r}); "
                         "a classifier needs at least two")
    index = {y: i for i, y in enumerate(labels)}
    unseen = sorted({y for _, y in test_rows if y not in index}, key=lambda y: (isinstance(y, str), y))
    if unseen:
        raise InputError(f"{test_where}: label {unseen[0]!r} of the test split never occurs in the training "
                         f"split of {train_path} (training labels: {', '.join(map(str, labels))})")
    return TextTask(spec.name, tuple(str(y) for y in labels), [(t, index[y]) for t, y in train_rows],
                    [(t, index[y]) for t, y in test_rows])


def read_documents(path: str | Path, text_column: str = "text") -> list[str]:
    """Documents of a held-out text file: a table's `text_column`, or one non-blank line each of plain text."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    if path.suffix.lower() in TABLE_SUFFIXES:
        spec = DataSpec(train=str(path), text_column=text_column)
        texts, _ = _read_rows(path, spec, "lm")
        return texts
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    docs = [line for line in lines if line.strip()]
    if not docs:
        raise InputError(f"{path}: empty file (no non-blank line)")
    return docs


def read_table_file(path: str | Path, columns: list[str]):
    """The pyarrow Table of a data file with `columns` (text columns read as strings), checked for presence."""
    import pyarrow as pa

    path = Path(path)
    fmt = TABLE_SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"{path}: unknown data format {path.suffix or '(no suffix)'!r}; "
                         f"use one of {', '.join(TABLE_SUFFIXES)}")
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: empty file")
    try:
        table = _read(path, fmt, columns[0])
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as e:
        raise InputError(f"{path}: {_parse_problem(path, fmt, e)}") from None
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise InputError(f"{path}: no column '{missing[0]}'; columns present: "
                         f"{', '.join(table.column_names) or 'none'}")
    if table.num_rows == 0:
        raise InputError(f"{path}: empty file (a header but no rows)")
    return table


def _read(path: Path, fmt: str, text_column: str):
    import pyarrow as pa

    if fmt in ("csv", "tsv"):
        import pyarrow.csv as pcsv

        bad: list[int] = []

        def invalid(row) -> str:
            bad.append(row.number)
            return "error"

        try:
            return pcsv.read_csv(
                path, read_options=pcsv.ReadOptions(use_threads=False),
                parse_options=pcsv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",", invalid_row_handler=invalid),
                convert_options=pcsv.ConvertOptions(column_types={text_column: pa.string()}))
        except pa.ArrowInvalid as e:
            if bad and bad[0] is not None:
                raise pa.ArrowInvalid(f"line {bad[0]}: cannot be parsed ({_short(e)})") from None
            raise
    if fmt == "jsonl":
        import pyarrow.json as pjson

        return pjson.read_json(path, read_options=pjson.ReadOptions(use_threads=False))
    import pyarrow.parquet as pq

    return pq.read_table(path)


def _parse_problem(path: Path, fmt: str, error: Exception) -> str:
    """pyarrow's complaint as one line, with the file's line number where it can be known."""
    message = _short(error)
    if message.startswith("line "):
        return message
    if message == "Empty CSV file":
        return "empty file"
    if fmt == "jsonl":
        found = re.search(r"in row (\d+)", message)
        if found:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            nonblank = [i for i, line in enumerate(lines) if line.strip()]
            row = int(found.group(1))
            if row < len(nonblank):
                return f"line {nonblank[row] + 1}: cannot be parsed ({message})"
    if fmt == "parquet":
        return f"not a readable Parquet file ({message})"
    return f"cannot be parsed ({message})"


def _short(error: Exception) -> str:
    return " ".join(str(error).split()).replace("CSV parse error: ", "").replace("JSON parse error: ", "")


def _read_rows(path: Path, spec: DataSpec, objective: Objective) -> tuple[list[str], list[str | int]]:
    """(texts, raw labels) of a data file; raw labels are [] unused (-1) for the lm objective."""
    import pyarrow as pa

    columns = [spec.text_column] + ([spec.label_column] if objective == "classify" else [])
    table = read_table_file(path, columns)
    where = "line" if path.suffix.lower() in (".jsonl", ".ndjson") else "row"
    offset = _line_numbers(path) if where == "line" else None

    def place(i: int) -> str:
        return f"line {offset[i]}" if offset is not None and i < len(offset) else f"row {i + 1}"

    text_col = table.column(spec.text_column)
    if not (pa.types.is_string(text_col.type) or pa.types.is_large_string(text_col.type)
            or pa.types.is_null(text_col.type)):
        raise InputError(f"{path}: column '{spec.text_column}' holds {text_col.type}, not text")
    texts = text_col.to_pylist()
    for i, text in enumerate(texts):
        if text is None or not text.strip():
            raise InputError(f"{path}: {place(i)}: {'no' if text is None else 'empty'} text in column "
                             f"'{spec.text_column}'")
    if objective == "lm":
        return texts, [-1] * len(texts)
    label_col = table.column(spec.label_column)
    kind = label_col.type
    if pa.types.is_integer(kind):
        labels: list = label_col.to_pylist()
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        labels = label_col.to_pylist()
    elif pa.types.is_boolean(kind):
        labels = [None if v is None else str(v).lower() for v in label_col.to_pylist()]
    elif pa.types.is_floating(kind):  # integers written as 1.0, or with a missing value
        values = label_col.to_pylist()
        for i, v in enumerate(values):
            if v is not None and not (math.isfinite(v) and float(v).is_integer()):
                raise InputError(f"{path}: {place(i)}: label {v!r} in column '{spec.label_column}' is neither "
                                 "a string nor an integer")
        labels = [None if v is None else int(v) for v in values]
    elif pa.types.is_null(kind):
        labels = [None] * len(texts)
    else:
        raise InputError(f"{path}: column '{spec.label_column}' holds {kind}; labels must be strings or integers")
    for i, label in enumerate(labels):
        if label is None or (isinstance(label, str) and not label.strip()):
            raise InputError(f"{path}: {place(i)}: no label in column '{spec.label_column}'")
    return texts, labels


def _line_numbers(path: Path) -> list[int]:
    """1-based line numbers of the non-blank lines of a JSONL file (its rows, in order)."""
    with path.open(encoding="utf-8", errors="replace") as f:
        return [n for n, line in enumerate(f, 1) if line.strip()]


__all__ = ["DataSpec", "Objective", "load_data_task", "read_documents", "read_table_file"]
