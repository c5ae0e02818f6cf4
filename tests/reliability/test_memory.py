"""The memory guard: its estimate covers measured peaks, and an over-budget dense SVD is refused by the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from peft import LoraConfig

from fixtures import models
from lorascope.errors import InputError, ResourceError
from lorascope.memory import ENV, available_bytes, check_dense, dense_solve_bytes, format_bytes, parse_size
from reliability import processes

Q0 = "model.layers.0.self_attn.q_proj.weight"


@pytest.mark.parametrize("text, expected", [("4096", 4096), ("2K", 2 * 2**10), ("512M", 512 * 2**20),
                                            ("1.5GiB", int(1.5 * 2**30)), ("3g", 3 * 2**30), ("1TB", 2**40)])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "lots", "-1G", "1X", "1e9"])
def test_parse_size_refuses_nonsense_naming_the_variable(text):
    with pytest.raises(InputError, match=ENV):
        parse_size(text)


def test_available_memory_comes_from_the_override_else_meminfo(monkeypatch):
    monkeypatch.setenv(ENV, "3M")
    assert available_bytes() == (3 * 2**20, ENV)
    monkeypatch.delenv(ENV)
    found = available_bytes()
    assert found is not None and found[1] == "MemAvailable" and found[0] > 0


def test_check_dense_refuses_with_name_estimate_available_and_option(monkeypatch):
    need = dense_solve_bytes((4096, 11008))
    monkeypatch.setenv(ENV, str(need - 1))
    with pytest.raises(ResourceError) as caught:
        check_dense("layers.3.mlp.up_proj.weight", (4096, 11008), hint="leave it out with --exclude REGEX")
    text = str(caught.value)
    for needle in ["layers.3.mlp.up_proj.weight", "4096×11008", format_bytes(need), format_bytes(need - 1), ENV,
                   "--exclude"]:
        assert needle in text
    monkeypatch.setenv(ENV, str(need))
    check_dense("x", (4096, 11008), hint="")  # exactly enough: allowed
    with pytest.raises(ResourceError, match="2 workers at once"):
        check_dense("x", (4096, 11008), hint="", workers=2)


PEAK = textwrap.dedent("""
    import ctypes, json, sys, torch
    torch.set_num_threads(1)
    trim = ctypes.CDLL("libc.so.6").malloc_trim
    from lorascope.spectral.basis import base_spectrum
    from lorascope.spectral.dense import svd64
    from lorascope.spectral.rank import delta_stats
    m, n = int(sys.argv[1]), int(sys.argv[2])
    W = torch.randn(m, n, generator=torch.Generator().manual_seed(0))
    svd64(torch.randn(8, 8))  # load LAPACK first
    def status(field):
        line = next(x for x in open("/proc/self/status") if x.startswith(field + ":"))
        return int(line.split()[1]) * 1024
    peaks = {}
    for what, solve in [("gram", lambda: base_spectrum(W, "gram")), ("svd", lambda: base_spectrum(W, "svd")),
                        ("delta", lambda: delta_stats(W.double()))]:
        trim(0)  # give memory freed by the previous solve back to the system, so this one's peak shows
        open("/proc/self/clear_refs", "w").write("5")  # reset the peak (VmHWM) to the current RSS
        before = status("VmRSS")
        solve()
        peaks[what] = status("VmHWM") - before
    print(json.dumps(peaks))
""")


@pytest.mark.parametrize("shape", [(1600, 800), (800, 1600), (1100, 1100)])
def test_estimate_covers_measured_peaks(shape):
    """Peak RSS growth of each dense solve, measured in a fresh process, stays under the estimate."""
    done = subprocess.run([sys.executable, "-c", PEAK, str(shape[0]), str(shape[1])], capture_output=True,
                          text=True, env=processes.cli_env(), check=True)
    peaks = json.loads(done.stdout)
    for what, peak in peaks.items():
        assert 0 < peak <= dense_solve_bytes(shape), (what, peak, dense_solve_bytes(shape))
    print(shape, {k: round(v / dense_solve_bytes(shape), 2) for k, v in peaks.items()})


@pytest.fixture(scope="module")
def llama_pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("memory")
    model = models.build("llama")
    base = models.save_model(model, root / "base")
    tuned = models.save_model(models.perturbed(model), root / "tuned")
    adapter = models.make_adapter(model, root / "adapter", LoraConfig(r=2, target_modules=["q_proj"])).path
    return base, tuned, adapter


def run_limited(args: list[str], limit: str) -> subprocess.CompletedProcess:
    return subprocess.run(processes.command(args), capture_output=True, text=True,
                          env={**processes.cli_env(), ENV: limit}, timeout=300)


@pytest.mark.parametrize("command", ["scan", "index", "scale"])
def test_cli_refuses_a_dense_svd_over_the_limit(command, llama_pair, tmp_path):
    base, tuned, _ = llama_pair
    args = {"scan": ["scan", str(base), str(tuned), "--json", str(tmp_path / "out.json")],
            "index": ["index", str(base)],
            "scale": ["scale", str(base), str(tuned), "--lambda", "0.5", "--out", str(tmp_path / "out")]}[command]
    done = run_limited([*args, "--cache-dir", str(tmp_path / "cache"), "--include", r"layers\.0\..*q_proj", "-q"],
                       "20K")
    lines = [x for x in done.stderr.splitlines() if x.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    need = format_bytes(dense_solve_bytes((32, 32)))
    for needle in ["lorascope: error: ", Q0, "32×32", need, "20.0 KiB", ENV, "--exclude"]:
        assert needle in lines[0]
    assert not (tmp_path / "out.json").exists() and not (tmp_path / "out").exists()


def test_warm_adapter_scan_needs_no_dense_svd(llama_pair, tmp_path):
    """With the base spectra in the index, an adapter's scan decomposes nothing dense: the limit does not apply."""
    base, _, adapter = llama_pair
    cache = ["--cache-dir", str(tmp_path / "cache")]
    processes.run(["index", str(base), *cache, "-q"])
    out = tmp_path / "scan.json"
    done = run_limited(["scan", str(base), str(adapter), *cache, "--json", str(out), "-q"], "20K")
    assert done.returncode == 0, done.stderr
    assert len(json.loads(out.read_text())["matrices"]) == 2
    cold = run_limited(["scan", str(base), str(adapter), "--no-cache", "-q"], "20K")
    assert cold.returncode == 2 and Q0 in cold.stderr
