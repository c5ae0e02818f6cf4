"""The ledger of finished jobs: one JSON file per job, named by a hash of the job's full settings.

A rerun of an experiment finds each finished job here and reuses its recorded result instead of running it
again; a job killed half-way has no record and runs again (training resumes from its own saved state).
Records are written atomically, so a kill never leaves half a record.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

from lorascope.atomic import atomic_write_text
from lorascope.errors import InputError


def job_key(kind: str, settings: dict[str, Any]) -> str:
    """A stable key for a job: `kind`-<sha256 of its settings as canonical JSON, 16 hex digits>."""
    text = json.dumps({"kind": kind, "settings": settings}, sort_keys=True, default=str)
    return f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


class Ledger:
    """Finished jobs of one experiment folder, under DIR/ledger/<key>.json."""

    def __init__(self, out: str | Path) -> None:
        self.dir = Path(out) / "ledger"  # created with the first record

    def get(self, key: str) -> dict[str, Any] | None:
        """The recorded result of job `key`, or None when it has not finished."""
        path = self.dir / f"{key}.json"
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise InputError(f"{path}: corrupt ledger record ({e}); delete it to rerun that job") from e
        if record.get("key") != key or "result" not in record:
            raise InputError(f"{path}: not a ledger record of job {key}; delete it to rerun that job")
        return record["result"]

    def put(self, key: str, settings: dict[str, Any], result: dict[str, Any]) -> Path:
        """Record job `key` as finished with `result` (JSON-serialisable)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        record = {"key": key, "settings": settings, "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "result": result}
        return atomic_write_text(self.dir / f"{key}.json", json.dumps(record, indent=1, default=str))

    def keys(self) -> list[str]:
        """Keys of every recorded job."""
        if not self.dir.is_dir():
            return []
        return sorted(p.stem for p in self.dir.glob("*.json") if not p.name.startswith("."))
