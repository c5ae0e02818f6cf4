"""Export a bundled real task to data files, so `train --data`, `repair --data` and `--forget-text` get files.

    python bench/export_task.py rt_polarity DIR --train-examples 480 --test-examples 200
        DIR/train.csv, DIR/val.csv: columns text, label (the registry's integer index), label_name
    python bench/export_task.py debate_party DIR --format jsonl --text-only
        DIR/train.jsonl, DIR/val.jsonl: column text only (for `train --objective lm`)
    python bench/export_task.py bbc_topic DIR --format jsonl --text-only --train-examples 0 --test-examples 40
        DIR/val.jsonl only: 40 held-out documents (a forget text)

The rows are the ones the registry trains and tests on (lorascope.training.registry.load_task): the
training file is the first --train-examples of the fixed shuffle `train --train-examples` draws from the
training split (test texts removed, as `train` removes them), the validation file the first
--test-examples of the test split, as `train --test-examples` scores them. So `train --data train.csv
--test-data val.csv` sees the same texts, labels and order as `train --task NAME` with those two flags.
Not a test: it writes files and prints what it wrote.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lorascope.atomic import atomic_write_text
from lorascope.datasets import TextTask
from lorascope.training.data import take_subset
from lorascope.training.registry import TASKS, load_task


def task_rows(task: TextTask, train_examples: int | None, test_examples: int | None
              ) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """(train rows, validation rows) exactly as `train --task` with these two limits uses them."""
    test = task.test[:test_examples]
    held_out = {text for text, _ in task.test}
    pool = [row for row in task.train if row[0] not in held_out]
    return take_subset(pool, train_examples), test


def table_text(rows: list[tuple[str, int]], labels: tuple[str, ...], fmt: str, text_only: bool) -> str:
    """The rows as a CSV (pyarrow's writer, quoted as needed) or JSONL document."""
    columns: dict[str, list] = {"text": [text for text, _ in rows]}
    if not text_only:
        columns["label"] = [label for _, label in rows]
        columns["label_name"] = [labels[label] for _, label in rows]
    if fmt == "jsonl":
        names = list(columns)
        return "".join(json.dumps({n: columns[n][i] for n in names}, ensure_ascii=False) + "\n"
                       for i in range(len(rows)))
    import io

    import pyarrow as pa
    import pyarrow.csv as pcsv

    sink = io.BytesIO()
    pcsv.write_csv(pa.table(columns), sink)
    return sink.getvalue().decode("utf-8")


def export(task: TextTask, out: Path, train_examples: int | None, test_examples: int | None,
           fmt: str = "csv", text_only: bool = False) -> list[tuple[Path, int]]:
    """Write OUT/train.FMT and OUT/val.FMT (a limit of 0 skips that file); returns (path, rows) written."""
    train, val = task_rows(task, train_examples, test_examples)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, rows, limit in (("train", train, train_examples), ("val", val, test_examples)):
        if limit == 0:
            continue
        path = atomic_write_text(out / f"{name}.{fmt}", table_text(rows, task.labels, fmt, text_only))
        written.append((path, len(rows)))
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("task", choices=sorted(TASKS))
    parser.add_argument("out", type=Path, help="folder for train.FMT and val.FMT")
    parser.add_argument("--train-examples", type=int, default=None,
                        help="first N of the fixed shuffle of the training split (default all; 0: no train file)")
    parser.add_argument("--test-examples", type=int, default=None,
                        help="first N of the test split (default all; 0: no validation file)")
    parser.add_argument("--format", choices=("csv", "jsonl"), default="csv")
    parser.add_argument("--text-only", action="store_true", help="only the text column (for --objective lm)")
    args = parser.parse_args()
    for limit in (args.train_examples, args.test_examples):
        if limit is not None and limit < 0:
            parser.error("--train-examples / --test-examples must be ≥ 0")
    for path, rows in export(load_task(args.task), args.out, args.train_examples, args.test_examples,
                             args.format, args.text_only):
        print(f"{path}: {rows} rows")


if __name__ == "__main__":
    main()
