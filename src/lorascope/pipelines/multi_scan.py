"""`multi_scan`: scan many fine-tunes of one BASE (adapters, checkpoints, folders of them) on any executor.

The work is split into independent jobs (lorascope.executor): first the base spectral index, built once for
every BASE matrix any input needs (one job per group of matrices, written to one shared index folder), then
one job per (input, group of matrices), which only reads the index. Each input's groups are merged in plan
order into one ScanResult and written to DIR/<name>.json as soon as they are all done; DIR/scans.json lists
them. Every job runs with `threads` torch threads whatever the executor, so local and Ray runs agree bit
for bit (BLAS sums depend on the thread count).
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lorascope._version import __version__
from lorascope.atomic import atomic_write_text, check_out_folder
from lorascope.cache import cache_root
from lorascope.errors import InputError
from lorascope.executor import Job, check_executor, executor_session, run_jobs
from lorascope.index import index_layout
from lorascope.index.parallel import check_workers, pinned_threads
from lorascope.pipelines.index import IndexOptions, IndexReport, build_index
from lorascope.pipelines.scan import ScanOptions, scan
from lorascope.results import ScanResult
from lorascope.spectral import check_k_fits
from lorascope.weights import plan_pairs
from lorascope.weights.discover import expand_inputs, model_stem
from lorascope.weights.source import resolve_pair, resolve_source

INDEX_FILE = "scans.json"


@dataclass(frozen=True)
class RunOptions:
    """Where and how the jobs of a multi-input scan run; each field is also a `lorascope scan` flag."""

    executor: str = field(default="local", metadata={"help": "local | ray: where the jobs of an --out scan run"})
    address: str | None = field(default=None, metadata={
        "help": "Ray cluster to join (e.g. auto, ray://head:10001); default: start a local Ray instance"})
    threads: int = field(default=1, metadata={
        "help": "torch threads per job of an --out scan (same value, same bits)"})
    group_size: int = field(default=8, metadata={"help": "matrices per job of an --out scan"})
    retries: int = field(default=2, metadata={"help": "resubmissions of a failed Ray task"})

    def __post_init__(self) -> None:
        check_executor(self.executor)
        for name in ("threads", "group_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InputError(f"{name} must be an integer ≥ 1; got {value!r}")
        if isinstance(self.retries, bool) or not isinstance(self.retries, int) or self.retries < 0:
            raise InputError(f"retries must be an integer ≥ 0; got {self.retries!r}")
        if self.address is not None and self.executor != "ray":
            raise InputError(f"--address {self.address} joins a Ray cluster: it needs --executor ray")


@dataclass(frozen=True)
class ScanEntry:
    """One input: where its JSON went, its merged result, and how many jobs it took."""

    tuned: str
    name: str
    json_path: Path
    result: ScanResult
    jobs: int


@dataclass(frozen=True)
class Retry:
    """One failed attempt of a job that was then resubmitted."""

    job: str
    attempt: int
    error: str


@dataclass(frozen=True)
class MultiScanReport:
    """What `multi_scan` wrote and how: one entry per input, the index work, every retry."""

    base: str
    out: Path
    index_path: Path
    executor: str
    scans: list[ScanEntry]
    index_jobs: int  # jobs that built the base index (0 with cache=False)
    index_built: int  # base matrices decomposed by those jobs
    index_hits: int  # base matrices they found already indexed
    index_seconds: float  # summed over the index jobs, as each measured itself
    computed_in_scans: int  # base spectra the scan jobs had to compute themselves (0 when the index served all)
    retries: list[Retry]
    seconds: float

    def to_json(self, run: RunOptions, index_root: Path | None, error: str | None = None) -> dict[str, Any]:
        """The index file DIR/scans.json."""
        return {
            "lorascope_version": __version__, "base": self.base, "executor": self.executor,
            "address": run.address, "threads": run.threads, "group_size": run.group_size,
            "scans": [{"tuned": e.tuned, "json": e.json_path.name, "tuned_kind": e.result.tuned_kind,
                       "matrices": len(e.result.matrices), "total_intruders": e.result.total_intruders,
                       "jobs": e.jobs} for e in self.scans],
            "index": {"root": None if index_root is None else str(index_root), "jobs": self.index_jobs,
                      "built": self.index_built, "hits": self.index_hits, "seconds": round(self.index_seconds, 3),
                      "computed_in_scans": self.computed_in_scans},
            "retries": [{"job": r.job, "attempt": r.attempt, "error": r.error} for r in self.retries],
            "error": error,
            "seconds": round(self.seconds, 3),
        }


def _named_base(inputs: Sequence[Path]) -> tuple[str, Path]:
    """With no BASE: the base every input adapter names (one base for all, or an InputError)."""
    named: dict[Path, tuple[str, Path]] = {}
    for path in inputs:
        pair = resolve_pair(None, path)
        named.setdefault(pair.base.resolve(), (pair.base_name, pair.base))
    if len(named) > 1:
        shown = ", ".join(name for name, _ in list(named.values())[:3])
        raise InputError(f"no BASE given, and the TUNED adapters name {len(named)} different bases ({shown}); "
                         "pass BASE")
    return next(iter(named.values()))


def output_names(paths: Sequence[Path]) -> list[str]:
    """A distinct file-name stem per input: its last path part, with parent parts added where names collide."""
    parts = [[*Path(os.path.abspath(p)).parent.parts[1:], model_stem(Path(p))] for p in paths]
    depth = [1] * len(paths)

    def name(i: int) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", "__".join(parts[i][-depth[i]:])).strip("._") or "model"

    while True:
        names = [name(i) for i in range(len(paths))]
        clashing = [i for i, n in enumerate(names) if names.count(n) > 1 and depth[i] < len(parts[i])]
        if not clashing:
            break
        for i in clashing:
            depth[i] += 1
    taken: set[str] = {Path(INDEX_FILE).stem}
    unique = []
    for n in names:
        candidate, k = n, 2
        while candidate in taken:
            candidate, k = f"{n}-{k}", k + 1
        taken.add(candidate)
        unique.append(candidate)
    return unique


def index_group(base: str, names: list[str], options: ScanOptions, threads: int) -> IndexReport:
    """Job: make sure the base index holds these BASE matrices (exact names), computing the missing ones."""
    include = tuple(f"^{re.escape(n)}$" for n in names)
    opts = IndexOptions(include=include, workers=options.workers, device=options.device,
                        cache_dir=options.cache_dir, allow_pickle=options.allow_pickle)
    with pinned_threads(threads):
        return build_index(base, opts)


def scan_group(base: str, tuned: str, names: list[str], options: ScanOptions, threads: int) -> ScanResult:
    """Job: scan one group of TUNED's matrices (exact BASE names) against BASE."""
    with pinned_threads(threads):
        return scan(base, tuned, options, only=names)


def merge_groups(parts: Sequence[ScanResult], base: str, tuned: str) -> ScanResult:
    """One input's group results as one ScanResult: matrices in plan order, warnings once each, times summed."""
    warnings: list[str] = []
    for part in parts:
        warnings.extend(w for w in part.warnings if w not in warnings)
    first = parts[0]
    return replace(first, base=base, tuned=tuned, matrices=[m for part in parts for m in part.matrices],
                   warnings=warnings, seconds=sum(p.seconds for p in parts),
                   base_spectra_computed=sum(p.base_spectra_computed for p in parts))


def _groups(names: Sequence[str], size: int) -> list[list[str]]:
    return [list(names[i:i + size]) for i in range(0, len(names), size)]


def _planned_names(base: Path, tuned: Path, opts: ScanOptions) -> list[str]:
    """The BASE matrices a scan of TUNED analyses, in order; bad input fails here, before any job runs."""
    plan = plan_pairs(base, tuned, include=opts.include, exclude=opts.exclude, allow_missing=opts.allow_missing,
                      allow_pickle=opts.allow_pickle)
    if not plan.pairs:
        raise InputError(f"{tuned}: no weight matrix to analyse against {base} (check --include/--exclude)")
    for pair in plan.pairs:
        check_k_fits(pair.name, pair.shape, opts.k)
    return [pair.name for pair in plan.pairs]


def _index_jobs(base: str, planned: list[list[str]], options: ScanOptions, run: RunOptions, cpus: int) -> list[Job]:
    """One job per group of the BASE matrices that any input needs, each matrix in exactly one group."""
    needed = list(dict.fromkeys(name for names in planned for name in names))
    groups = _groups(needed, run.group_size)
    return [Job(f"index {g + 1}/{len(groups)}", index_group, (base, group, options, run.threads), cpus)
            for g, group in enumerate(groups)]


def _scan_jobs(base: str, inputs: list[Path], names: list[str], planned: list[list[str]], options: ScanOptions,
               run: RunOptions, cpus: int) -> tuple[list[Job], list[list[str]]]:
    """One job per (input, group of its matrices), and each input's job keys in plan order."""
    jobs: list[Job] = []
    keys_of: list[list[str]] = []
    for path, name, matrices in zip(inputs, names, planned, strict=True):
        groups = _groups(matrices, run.group_size)
        keys_of.append([f"{name} {g + 1}/{len(groups)}" for g in range(len(groups))])
        jobs.extend(Job(key, scan_group, (base, os.path.abspath(path), group, options, run.threads), cpus)
                    for key, group in zip(keys_of[-1], groups, strict=True))
    return jobs, keys_of


def multi_scan(base: str | Path | None, tuned: Sequence[str | Path], out: str | Path,
               options: ScanOptions | None = None,
               run: RunOptions | None = None, *, progress: Callable[[int, int, str], None] | None = None
               ) -> MultiScanReport:
    """Scan every TUNED input against BASE with `run.executor`; writes DIR/<name>.json per input and DIR/scans.json.

    Every input is checked and planned before any job runs (a missing one is an InputError naming it).
    `progress(done, total, job)` is called as jobs finish. If a job finally fails, the inputs already done
    stay written, scans.json records the error, and the error is raised. BASE None: the one base that
    every TUNED adapter names in its adapter_config.json.
    """
    start = time.perf_counter()
    opts = options or ScanOptions()
    run = run or RunOptions()
    out = check_out_folder(out, parents=False)
    if run.executor == "ray":
        if str(opts.device) != "cpu":
            raise InputError(f"--device {opts.device} with --executor ray: Ray tasks here reserve CPUs only (Ray "
                             "hides GPUs from them); scan on a GPU with --executor local")
        from lorascope.ray_executor import import_ray

        import_ray()  # not installed: an InputError now, before anything is planned or written
    base_path = None if base is None else resolve_source(base, "BASE")
    inputs = expand_inputs(tuned)
    if base_path is None:
        base, base_path = _named_base(inputs)
    names = output_names(inputs)
    planned = [_planned_names(base_path, path, opts) for path in inputs]
    cache = Path(os.path.abspath(cache_root(opts.cache_dir))) if opts.cache else None
    job_opts = replace(opts, cache_dir=cache)  # one absolute cache folder for every job, on every node
    index_root = None if cache is None else index_layout(cache).root
    cpus = run.threads * check_workers(opts.workers)
    base_abs = os.path.abspath(base_path)

    index_jobs = [] if cache is None else _index_jobs(base_abs, planned, job_opts, run, cpus)
    scan_jobs, keys_of = _scan_jobs(base_abs, inputs, names, planned, job_opts, run, cpus)
    owner = {key: i for i, keys in enumerate(keys_of) for key in keys}

    out.mkdir(exist_ok=True)
    total = len(index_jobs) + len(scan_jobs)
    done = 0
    parts: dict[int, dict[str, ScanResult]] = {i: {} for i in range(len(inputs))}
    entries: dict[int, ScanEntry] = {}
    retries: list[Retry] = []
    index_reports: list[IndexReport] = []

    def tick(key: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, key)

    def indexed(key: str, report: IndexReport) -> None:
        index_reports.append(report)
        tick(key)

    def scanned(key: str, result: ScanResult) -> None:
        i = owner[key]
        parts[i][key] = result
        keys = keys_of[i]
        if len(parts[i]) == len(keys):
            merged = merge_groups([parts[i][k] for k in keys], str(base), str(inputs[i]))
            path = out / f"{names[i]}.json"
            merged.save_json(path)
            entries[i] = ScanEntry(str(inputs[i]), names[i], path, merged, len(keys))
        tick(key)

    def retried(key: str, attempt: int, error: str) -> None:
        retries.append(Retry(key, attempt, error))
        from lorascope.ray_executor import print_retry

        print_retry(key, attempt, error)

    def report() -> MultiScanReport:
        statuses = [m.status for r in index_reports for m in r.matrices]
        return MultiScanReport(
            base=str(base), out=out, index_path=out / INDEX_FILE, executor=run.executor,
            scans=[entries[i] for i in sorted(entries)], index_jobs=len(index_jobs),
            index_built=sum(s != "hit" for s in statuses), index_hits=statuses.count("hit"),
            index_seconds=sum(r.seconds for r in index_reports),
            computed_in_scans=sum(e.result.base_spectra_computed for e in entries.values()),
            retries=retries, seconds=time.perf_counter() - start)

    if progress is not None:
        progress(0, total, "")
    try:
        with executor_session(run.executor, run.address):
            run_jobs(index_jobs, run.executor, on_result=indexed, address=run.address, retries=run.retries,
                     on_retry=retried)
            run_jobs(scan_jobs, run.executor, on_result=scanned, address=run.address, retries=run.retries,
                     on_retry=retried)
    except Exception as e:
        atomic_write_text(out / INDEX_FILE, json.dumps(report().to_json(run, index_root, error=str(e)), indent=1)
                          + "\n")
        raise
    final = report()
    atomic_write_text(final.index_path, json.dumps(final.to_json(run, index_root), indent=1) + "\n")
    return final

