"""What a recipe works with: its parsed experiment, its output folder, the ledger and the executor."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lorascope.executor import Job, run_jobs
from lorascope.experiments import jobs as jobs_module
from lorascope.experiments.config import Experiment
from lorascope.experiments.divergence import mark_diverged
from lorascope.experiments.jobs import train_and_scan
from lorascope.experiments.ledger import Ledger, job_key
from lorascope.experiments.rows import merge_tables
from lorascope.pipelines.train import run_id_of
from lorascope.training.config import TrainConfig

Tables = dict[str, list[dict[str, Any]]]
VOLATILE = ("threads",)  # settings that never change a result


@dataclass(frozen=True)
class Planned:
    """A job with the settings its ledger key is computed from."""

    kind: str
    settings: dict[str, Any]
    fn: Callable[..., Tables]
    args: tuple[Any, ...]

    @property
    def key(self) -> str:
        return job_key(self.kind, self.settings)


@dataclass
class Context:
    """One experiment run: recipes call `train` / `run` and get each job's tables (finished ones from the ledger)."""

    experiment: Experiment
    out: Path
    executor: str = "local"
    cache_dir: str | None = None
    log: Callable[[str], None] = lambda message: None
    runs_root: Path | None = None  # where training runs live; None: out/runs (reproduce shares one across recipes)
    ran: int = 0
    reused: int = 0

    def __post_init__(self) -> None:
        self.ledger = Ledger(self.out)

    def settings_of(self, config: TrainConfig) -> dict[str, Any]:
        """The result-relevant settings of a training run."""
        return {k: v for k, v in config.to_json().items() if k not in VOLATILE}

    @property
    def runs_folder(self) -> Path:
        """The folder of this experiment's training runs: runs_root, else out/runs."""
        return self.runs_root if self.runs_root is not None else self.out / "runs"

    def run_dir(self, config: TrainConfig) -> Path:
        """Where the training run `config` lives (shared by every job, and every recipe given the same runs_root,
        that needs it: a run id names every result-relevant setting, so one folder is one training)."""
        return self.runs_folder / run_id_of(config)

    def train(self, runs: list[tuple[TrainConfig, dict[str, Any]]]) -> Tables:
        """Train and scan each distinct config once; every (config, labels) entry gets its rows with its labels."""
        analysis = dataclasses.asdict(self.experiment.analysis)
        planned: dict[str, Planned] = {}
        keys = []
        for config, _ in runs:
            job = Planned("train", {"train": self.settings_of(config), "analysis": analysis}, train_and_scan,
                          (config, str(self.run_dir(config)), self.experiment.analysis, self.cache_dir))
            planned.setdefault(job.key, job)
            keys.append(job.key)
        results = self.run(list(planned.values()))
        parts = []
        for key, (_, labels) in zip(keys, runs, strict=True):
            parts.append({name: [_labelled(row, labels) for row in rows] for name, rows in results[key].items()})
        return mark_diverged(merge_tables(parts))

    def run(self, jobs: list[Planned]) -> dict[str, Tables]:
        """Each job's tables by key: recorded ones from the ledger, the rest run on the executor and recorded."""
        results: dict[str, Tables] = {}
        todo: list[Job] = []
        settings: dict[str, dict[str, Any]] = {}
        for job in jobs:
            found = self.ledger.get(job.key)
            if found is not None:
                results[job.key] = found
                self.reused += 1
            elif job.key not in settings:
                settings[job.key] = job.settings
                todo.append(Job(job.key, job.fn, job.args))
        if results:
            self.log(f"{len(results)} finished job(s) found in the ledger, skipped")
        done = len(results)

        def record(key: str, tables: Tables) -> None:
            nonlocal done
            tables = json.loads(json.dumps(tables, default=str))  # exactly what a later rerun reads back
            self.ledger.put(key, settings[key], tables)
            results[key] = tables
            self.ran += 1
            done += 1
            self.log(f"[{done}/{len(jobs)}] finished {key}")

        for job in todo:
            self.log(f"queued {job.key}")
        jobs_module.progress_sink = self.log if self.executor == "local" else None
        try:
            run_jobs(todo, self.executor, on_result=record,  # type: ignore[arg-type]
                     on_retry=lambda key, attempt, error: self.log(f"{key}: attempt {attempt} failed ({error}); "
                                                                   "retrying"))
        finally:
            jobs_module.progress_sink = None
        return {job.key: results[job.key] for job in jobs}


def _labelled(row: dict[str, Any], labels: dict[str, Any]) -> dict[str, Any]:
    """`row` with the recipe's labels inserted right after run_id."""
    if not labels:
        return dict(row)
    out: dict[str, Any] = {}
    for key, value in row.items():
        out[key] = value
        if key == "run_id":
            out.update(labels)
    if "run_id" not in row:
        out.update(labels)
    return out
