"""Tidy tables as Parquet: one row per observation, one column per variable, written atomically."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lorascope.errors import InputError


def columns_of(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Every key of `rows`, in first-seen order."""
    seen: dict[str, None] = {}
    for row in rows:
        for key in row:
            seen.setdefault(key, None)
    return list(seen)


def write_table(path: str | Path, rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> Path:
    """Write `rows` (dicts; a missing key is null) to a Parquet file at `path`, replacing it atomically."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    names = list(columns) if columns is not None else columns_of(rows)
    data = {name: [row.get(name) for row in rows] for name in names}
    try:
        table = pa.table(data) if names else pa.table({})
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise InputError(f"{path}: rows do not form a table ({e})") from e
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a Parquet table written by write_table."""
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pylist()
