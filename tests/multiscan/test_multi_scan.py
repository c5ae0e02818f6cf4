"""Multi-input scans on the local executor: same JSON as one scan per input, index built once, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import lorascope.pipelines.multi_scan as multi
from lorascope.cli import main
from lorascope.errors import InputError
from lorascope.executor import Job, run_jobs
from lorascope.pipelines.multi_scan import INDEX_FILE, RunOptions, expand_inputs, multi_scan, output_names
from lorascope.pipelines.scan import ScanOptions, scan
from multiscan.inputs import make_inputs, read_json, without_seconds


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return make_inputs(tmp_path_factory.mktemp("multi"))


def _planned(inputs, opts: ScanOptions) -> dict[str, list[str]]:
    """BASE matrices each input pairs with, as the plain single-input scan sees them."""
    return {str(p): [m.name for m in scan(inputs.base, p, opts, cache=False).matrices]
            for p in [*inputs.adapters, inputs.full]}


def test_each_input_equals_its_own_single_scan(inputs, tmp_path):
    opts = ScanOptions(k=4, cache_dir=tmp_path / "multi-cache")
    report = multi_scan(inputs.base, [inputs.sweep, inputs.full], tmp_path / "out", opts, RunOptions(group_size=3))
    listing = read_json(tmp_path / "out" / INDEX_FILE)
    assert [s["tuned"] for s in listing["scans"]] == [str(p) for p in [*inputs.adapters, inputs.full]]
    assert [s["json"] for s in listing["scans"]] == ["checkpoint-5.json", "checkpoint-10.json", "full.json"]
    assert listing["error"] is None and listing["retries"] == []
    for entry in report.scans:
        alone = scan(inputs.base, entry.tuned, opts, cache_dir=tmp_path / "single-cache").to_json()
        written = read_json(entry.json_path)
        assert without_seconds(written) == without_seconds(json.loads(json.dumps(alone))), entry.name
        # the groups of 3 were really merged: more matrices than one job holds
        assert len(written["matrices"]) > 3
    assert [s["jobs"] for s in listing["scans"]] == [-(-len(e.result.matrices) // 3) for e in report.scans]


def test_base_index_is_built_once_for_all_inputs(inputs, tmp_path, monkeypatch):
    import lorascope.index.spectra as spectra

    planned = _planned(inputs, ScanOptions(k=4))
    calls: list[tuple[int, int]] = []
    real = spectra.base_spectrum

    def counting(W0, *args, **kwargs):
        calls.append(tuple(W0.shape))
        return real(W0, *args, **kwargs)

    monkeypatch.setattr(spectra, "base_spectrum", counting)
    opts = ScanOptions(k=4, cache_dir=tmp_path / "cache")
    distinct = set().union(*planned.values())
    first = multi_scan(inputs.base, [inputs.sweep, inputs.full], tmp_path / "a", opts, RunOptions(group_size=4))
    assert len(calls) == len(distinct) == first.index_built
    assert first.computed_in_scans == 0 and first.index_hits == 0
    assert first.index_jobs == -(-len(distinct) // 4)
    calls.clear()
    again = multi_scan(inputs.base, [inputs.sweep], tmp_path / "b", opts, RunOptions(group_size=4))
    assert calls == [] and again.index_built == 0 and again.computed_in_scans == 0
    assert again.index_hits == len(set().union(*(planned[str(p)] for p in inputs.adapters)))


def test_an_index_built_by_lorascope_index_is_used(inputs, tmp_path):
    from lorascope.index import index_layout
    from lorascope.pipelines.index import build_index

    built = build_index(inputs.base, cache_dir=tmp_path / "cache")
    report = multi_scan(inputs.base, [inputs.full], tmp_path / "out", ScanOptions(k=4, cache_dir=tmp_path / "cache"))
    assert report.index_built == 0 and report.computed_in_scans == 0
    assert report.index_hits == len(built.matrices) == len(report.scans[0].result.matrices)
    listing = read_json(tmp_path / "out" / INDEX_FILE)
    assert listing["index"]["root"] == str(index_layout(tmp_path / "cache").root) == str(built.root)


def test_without_the_index_every_job_computes_its_own(inputs, tmp_path):
    opts = ScanOptions(k=4, cache=False)
    report = multi_scan(inputs.base, [inputs.adapters[0]], tmp_path / "out", opts, RunOptions(group_size=2))
    assert report.index_jobs == 0 and report.computed_in_scans == len(report.scans[0].result.matrices)
    alone = scan(inputs.base, inputs.adapters[0], opts).to_json()
    assert without_seconds(read_json(report.scans[0].json_path)) == without_seconds(json.loads(json.dumps(alone)))


def test_folder_of_models_expands_in_natural_order(inputs, tmp_path):
    assert expand_inputs([inputs.sweep]) == inputs.adapters
    assert expand_inputs([inputs.full, inputs.sweep]) == [inputs.full, *inputs.adapters]
    nested = tmp_path / "runs"
    (nested / "run-a").mkdir(parents=True)
    (nested / "run-a" / "checkpoint").symlink_to(inputs.adapters[1], target_is_directory=True)
    (nested / "notes").mkdir()
    assert expand_inputs([nested]) == [nested / "run-a" / "checkpoint"]
    with pytest.raises(InputError, match=r"TUNED .*notes: holds no checkpoint or PEFT adapter"):
        expand_inputs([nested / "notes"])
    with pytest.raises(InputError, match="given twice"):
        expand_inputs([inputs.sweep, inputs.adapters[0]])


def test_output_names_are_distinct_and_readable(tmp_path):
    for rel in ["a/ckpt", "b/ckpt", "c/scans"]:
        (tmp_path / rel).mkdir(parents=True)
    (tmp_path / "c" / "step 7.safetensors").write_bytes(b"")
    paths = [tmp_path / "a/ckpt", tmp_path / "b/ckpt", tmp_path / "c/step 7.safetensors", tmp_path / "c/scans"]
    assert output_names(paths) == ["a__ckpt", "b__ckpt", "step_7", "scans-2"]


def test_missing_input_is_named_and_nothing_is_written(inputs, tmp_path):
    missing = tmp_path / "no-such-adapter"
    with pytest.raises(InputError, match=f"TUNED {missing}: does not exist"):
        multi_scan(inputs.base, [inputs.adapters[0], missing], tmp_path / "out", ScanOptions(k=4))
    assert not (tmp_path / "out").exists()


def test_a_failing_job_is_reported_and_finished_inputs_are_kept(inputs, tmp_path, monkeypatch):
    real = multi.scan_group

    def failing(base, tuned, names, options, threads):
        if tuned.endswith("checkpoint-10"):
            raise RuntimeError("disk went away")
        return real(base, tuned, names, options, threads)

    monkeypatch.setattr(multi, "scan_group", failing)
    with pytest.raises(RuntimeError, match="disk went away"):
        multi_scan(inputs.base, [inputs.sweep], tmp_path / "out", ScanOptions(k=4), RunOptions(group_size=100))
    listing = read_json(tmp_path / "out" / INDEX_FILE)
    assert listing["error"] == "disk went away"
    assert [s["json"] for s in listing["scans"]] == ["checkpoint-5.json"]
    assert (tmp_path / "out" / "checkpoint-5.json").is_file()
    assert not (tmp_path / "out" / "checkpoint-10.json").exists()


def test_run_options_are_checked():
    with pytest.raises(InputError, match="--executor must be one of local, ray"):
        RunOptions(executor="dask")
    with pytest.raises(InputError, match="threads must be an integer"):
        RunOptions(threads=0)
    with pytest.raises(InputError, match="--address .* needs --executor ray"):
        RunOptions(address="auto")
    with pytest.raises(InputError, match="--device cuda with --executor ray"):
        multi_scan("base", ["x"], "out", ScanOptions(device="cuda"), RunOptions(executor="ray"))


def test_ray_missing_says_how_to_install(inputs, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    with pytest.raises(InputError, match=r"pip install lorascope\[ray\]"):
        run_jobs([Job("one", len, ("x",))], "ray")
    with pytest.raises(InputError, match=r"pip install lorascope\[ray\]"):
        multi_scan(inputs.base, [inputs.full], tmp_path / "out", ScanOptions(k=4), RunOptions(executor="ray"))
    assert not (tmp_path / "out").exists()


def test_importing_lorascope_does_not_import_ray():
    code = ("import sys, lorascope, lorascope.cli, lorascope.executor, lorascope.pipelines.multi_scan; "
            "print('ray' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_cli_scans_many_and_keeps_one_input_unchanged(inputs, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["scan", str(inputs.base), str(inputs.sweep), str(inputs.full), "--k", "4", "--out", str(out), "--quiet"]
    assert main(args) == 0
    assert "wrote 3 scans" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint-10.json", "checkpoint-5.json", "full.json",
                                                     INDEX_FILE]
    single = tmp_path / "single.json"
    assert main(["scan", str(inputs.base), str(inputs.full), "--k", "4", "--json", str(single), "--quiet"]) == 0
    assert without_seconds(read_json(single)) == without_seconds(read_json(out / "full.json"))


@pytest.mark.parametrize("extra, message", [
    ([], "2 TUNED inputs write one JSON each into a folder: pass --out DIR"),
    (["--out", "OUT", "--json", "x.json"], "--json writes one scan"),
])
def test_cli_many_inputs_need_out(inputs, tmp_path, capsys, extra, message):
    extra = [str(tmp_path / "o") if a == "OUT" else a for a in extra]
    assert main(["scan", str(inputs.base), str(inputs.full), str(inputs.adapters[0]), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
