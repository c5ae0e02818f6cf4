"""Multi-input scans on a local Ray instance (2 CPUs, started here): the same JSON as the local executor,
retried crashes, errors that name their input or job.

This folder has no __init__.py on purpose: tests/ is on sys.path, and a package tests/ray would shadow Ray.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from lorascope.cli import main  # noqa: E402
from lorascope.errors import InputError, JobError  # noqa: E402
from lorascope.executor import Job, run_jobs  # noqa: E402
from lorascope.pipelines.multi_scan import INDEX_FILE, RunOptions, multi_scan  # noqa: E402
from lorascope.pipelines.scan import ScanOptions  # noqa: E402
from lorascope.ray_executor import FAULT_FILE  # noqa: E402
from multiscan.inputs import make_inputs, read_json  # noqa: E402

GROUP = 4
OPTIONS = ScanOptions(k=4)


@pytest.fixture(scope="module")
def cluster(ray_cluster):
    """The suite's one Ray instance (tests/conftest.py); its workers cannot import this test module."""
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    return ray_cluster


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return make_inputs(tmp_path_factory.mktemp("ray-inputs"))


@pytest.fixture(scope="module")
def local(inputs, tmp_path_factory):
    """The reference: the same scans on the local executor, with their own (cold) index."""
    root = tmp_path_factory.mktemp("local")
    report = multi_scan(inputs.base, [inputs.sweep, inputs.full], root / "out",
                        ScanOptions(k=4, cache_dir=root / "cache"), RunOptions(group_size=GROUP))
    return report


def _same_as_local(local, out) -> None:
    """Every JSON the Ray run wrote equals the local one field by field (the wall time aside)."""
    names = sorted(p.name for p in local.out.iterdir())
    assert sorted(p.name for p in out.iterdir()) == names
    for name in names:
        mine, theirs = read_json(out / name), read_json(local.out / name)
        if name == INDEX_FILE:
            mine, theirs = ({k: v for k, v in d.items() if k not in ("executor", "seconds", "retries", "index")}
                            for d in (mine, theirs))
        assert set(mine) == set(theirs), name
        for field in theirs:
            if field != "seconds":
                assert mine[field] == theirs[field], f"{name}: {field}"


def test_ray_equals_local_field_by_field_and_builds_the_index_once(cluster, inputs, local, tmp_path):
    report = multi_scan(inputs.base, [inputs.sweep, inputs.full], tmp_path / "out",
                        ScanOptions(k=4, cache_dir=tmp_path / "cache"), RunOptions(executor="ray", group_size=GROUP))
    _same_as_local(local, tmp_path / "out")
    assert [e.name for e in report.scans] == [e.name for e in local.scans]
    # a cold index, built by the index jobs only: each base matrix once, none in the scan jobs
    assert report.index_built == local.index_built > 0
    assert report.index_hits == 0 and report.computed_in_scans == 0
    assert report.index_jobs == local.index_jobs == -(-local.index_built // GROUP)
    assert report.retries == []
    listing = read_json(tmp_path / "out" / INDEX_FILE)
    assert listing["executor"] == "ray" and listing["index"]["built"] == report.index_built


def test_a_killed_task_is_retried_and_reported(cluster, inputs, local, tmp_path):
    (cluster / FAULT_FILE).write_text("")  # the first task to start kills its own worker
    report = multi_scan(inputs.base, [inputs.sweep, inputs.full], tmp_path / "out",
                        ScanOptions(k=4, cache_dir=tmp_path / "cache"), RunOptions(executor="ray", group_size=GROUP))
    assert not (cluster / FAULT_FILE).exists()
    assert len(report.retries) == 1 and report.retries[0].attempt == 1
    assert "worker process died" in report.retries[0].error
    assert read_json(tmp_path / "out" / INDEX_FILE)["retries"] == [
        {"job": report.retries[0].job, "attempt": 1, "error": report.retries[0].error}]
    _same_as_local(local, tmp_path / "out")


def test_missing_input_fails_naming_it(cluster, inputs, tmp_path):
    missing = inputs.sweep / "checkpoint-99"
    with pytest.raises(InputError, match=f"TUNED {missing}: does not exist"):
        multi_scan(inputs.base, [inputs.full, missing], tmp_path / "out", OPTIONS, RunOptions(executor="ray"))
    assert not (tmp_path / "out").exists()


def _bad_input(name: str) -> None:
    raise InputError(f"{name}: not a model")


def _always_fails() -> None:
    raise ValueError("always")


def test_job_errors_on_ray(cluster):
    retried: list[tuple[str, int, str]] = []
    with pytest.raises(InputError, match="^x.safetensors: not a model$"):  # bad input: raised once, not retried
        run_jobs([Job("bad", _bad_input, ("x.safetensors",))], "ray", on_retry=lambda *a: retried.append(a))
    assert retried == []
    with pytest.raises(JobError, match="job doomed: failed 2 times; last error: ValueError: always"):
        run_jobs([Job("doomed", _always_fails)], "ray", retries=1, on_retry=lambda *a: retried.append(a))
    assert retried == [("doomed", 1, "ValueError: always")]
    done: list[str] = []
    results = run_jobs([Job(f"j{i}", divmod, (7 * i, 3)) for i in range(5)], "ray",
                       on_result=lambda key, _: done.append(key))
    assert results == {f"j{i}": divmod(7 * i, 3) for i in range(5)} and sorted(done) == list(results)


def test_cli_executor_ray(cluster, inputs, local, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["scan", str(inputs.base), str(inputs.sweep), str(inputs.full), "--k", "4", "--out", str(out),
            "--executor", "ray", "--group-size", str(GROUP), "--cache-dir", str(tmp_path / "cache"), "--quiet"]
    assert main(args) == 0
    assert "wrote 3 scans" in capsys.readouterr().out
    _same_as_local(local, out)
    assert json.loads((out / INDEX_FILE).read_text())["executor"] == "ray"


def _stable(rows: list[dict]) -> list[dict]:
    """Table rows less what differs between any two runs: timings and the output paths."""
    return [{k: v for k, v in row.items() if not (k.endswith("seconds") or k.startswith("sec_") or
                                                   k in ("run_dir", "checkpoint"))} for row in rows]


def test_a_tiny_recipe_runs_under_ray_with_the_local_results(cluster, tmp_path):
    from lorascope.experiments.tables import read_table
    from lorascope.recipes.run import run_experiment
    from training import toys

    experiment = Path(__file__).resolve().parents[2] / "experiments" / "rank_sweep.toml"
    tiny = {"train": {"model": str(toys.tiny_llama_dir(tmp_path / "llama")), "train_layers": "top:2",
                      "max_length": 32, "train_examples": 64, "test_examples": 32, "forget_chunks": 2,
                      "forget_chunk_length": 48, "eval_batch_size": 32, "max_steps": 8}}
    results = {}
    for executor in ("local", "ray"):
        result = run_experiment(experiment, "quick", tmp_path / executor, executor=executor, overrides=tiny,
                                cache_dir=tmp_path / f"cache-{executor}")
        assert result.ran > 1 and result.manifest["executor"] == executor
        results[executor] = {name: _stable(read_table(result.table_path(name))) for name in result.manifest["tables"]}
    assert results["ray"] == results["local"]
    again = run_experiment(experiment, "quick", tmp_path / "ray", executor="ray", overrides=tiny,
                           cache_dir=tmp_path / "cache-ray")
    assert again.ran == 0 and again.reused == result.ran  # the ledger written by the Ray run resumes it
