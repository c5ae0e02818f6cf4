"""Hub ids through the real CLI, each call in a fresh interpreter (the environment is read at import there)."""

from __future__ import annotations

import json

import pytest

from bad_inputs.test_corpus import run_cli, snapshot
from hubnames.conftest import ADAPTER_ID, BASE_ID, set_base_name
from lorascope import scan


@pytest.fixture
def env(offline, monkeypatch, tmp_path):
    """The child sees the test cache, offline (run_cli copies os.environ); its lorascope cache is fresh."""
    return tmp_path / "lorascope-cache"


def one_error_line(done, *parts: str) -> str:
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("lorascope: error: ")
    for part in parts:
        assert part in lines[0], (part, lines[0])
    return lines[0]


def test_scan_adapter_alone_from_the_hub_cache(env, tmp_path, hub):
    out = tmp_path / "scan.json"
    done = run_cli(["scan", ADAPTER_ID, "--k", "3", "--no-cache", "--quiet", "--json", str(out)], env)
    assert done.returncode == 0, done.stderr
    data = json.loads(out.read_text())
    local = scan(hub.base_a, hub.adapter, k=3, cache=False)
    assert (data["base"], data["tuned"]) == (BASE_ID, ADAPTER_ID)
    assert data["total_intruders"] == local.total_intruders
    assert [m["top"][0]["max_cos"] for m in data["matrices"]] == [m.analysis.top[0].max_cos for m in local.matrices]


def test_scale_adapter_alone_from_the_hub_cache(env, tmp_path):
    out = tmp_path / "scaled"
    done = run_cli(["scale", ADAPTER_ID, "--lambda", "0.5", "--out", str(out), "--k", "3", "--no-cache"], env)
    assert done.returncode == 0, done.stderr
    assert json.loads((out / "scale.json").read_text())["base"] == BASE_ID
    assert (out / "adapter_model.safetensors").is_file()


def test_uncached_hub_base_offline_is_one_line_and_writes_nothing(env, tmp_path, hub):
    before = snapshot(hub.cache)
    out = tmp_path / "scan.json"
    done = run_cli(["scan", "tiny-org/absent", str(hub.adapter), "--json", str(out)], env)
    one_error_line(done, "BASE tiny-org/absent:", "`hf download tiny-org/absent`", "HF_HUB_OFFLINE=1")
    assert not out.exists() and not env.exists()
    assert snapshot(hub.cache) == before


def test_uncached_base_named_by_the_adapter_names_the_config(env, tmp_path, own_adapter):
    set_base_name(own_adapter, "tiny-org/gone", revision="v3")
    out = tmp_path / "scan.json"
    done = run_cli(["scan", str(own_adapter), "--json", str(out)], env)
    one_error_line(done, str(own_adapter / "adapter_config.json"), "tiny-org/gone@v3",
                   "`hf download tiny-org/gone --revision v3`")
    assert not out.exists() and not env.exists()


def test_uncached_revision_for_index(env):
    done = run_cli(["index", f"{BASE_ID}@v9"], env)
    one_error_line(done, f"BASE {BASE_ID}@v9:", f"`hf download {BASE_ID} --revision v9`")
    assert not env.exists()

