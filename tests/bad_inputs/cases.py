"""The bad-input corpus: one row per case, each building its own damaged input and naming what the error must say.

A case's `make(ctx)` writes its inputs under `ctx.inputs` (copies of the session's originals, then damaged)
and returns the CLI arguments and the strings the one stderr line must contain: the file, tensor, key or
option at fault, and the problem. Outputs are named under `ctx.outputs`, which must still be absent after.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from bad_inputs import damage
from bad_inputs.originals import Originals

Q0 = "model.layers.0.self_attn.q_proj.weight"
K0 = "model.layers.0.self_attn.k_proj.weight"
V0 = "model.layers.0.self_attn.v_proj.weight"
ADAPTER_FILE = "adapter_model.safetensors"
ADAPTER_Q0_A = "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight"


@dataclass(frozen=True)
class Ctx:
    """Where a case writes: `inputs` (must be byte-identical after), `outputs` (must stay as they were), and
    `cache`, the index (completed entries may stay; no temp folder, no unreadable entry)."""

    originals: Originals
    inputs: Path
    outputs: Path
    cache: Path

    def copy(self, which: str, name: str | None = None) -> Path:
        """A private copy of one original (a folder or a file) under `inputs`."""
        src = getattr(self.originals, which)
        dest = self.inputs / (name or which)
        if src.is_dir():
            return damage.copy_tree(src, dest)
        shutil.copy2(src, dest)
        return dest


@dataclass(frozen=True)
class Call:
    """One CLI invocation and what its single stderr line must name."""

    args: list[str]
    needles: tuple[str, ...]
    fsize: int | None = None  # RLIMIT_FSIZE of the child: writes past it fail (EFBIG), a 'full disk'
    after: Callable[[Ctx], None] | None = None  # extra check once the command has failed


def unwritable(ctx: Ctx) -> Path:
    """A folder this process cannot create files in (as root, chmod does not stop writes: use /sys)."""
    if os.geteuid() == 0:
        return Path("/sys")
    folder = ctx.inputs / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


FULL_DISK = 64 * 1024  # as RLIMIT_FSIZE: a write past 64 KiB fails with EFBIG (Python ignores SIGXFSZ)


def _scan(ctx: Ctx, base: Path, tuned: Path, *extra: str) -> list[str]:
    return ["scan", str(base), str(tuned), "--json", str(ctx.outputs / "scan.json"), "--quiet", *extra]


def _scale(ctx: Ctx, base: Path, tuned: Path, *extra: str) -> list[str]:
    return ["scale", str(base), str(tuned), "--out", str(ctx.outputs / "scaled"), "--quiet", *extra]


def _train(ctx: Ctx, *extra: str) -> list[str]:
    model = ctx.copy("trainable")
    return ["train", "--out", str(ctx.outputs / "run"), "--model", str(model), "--train-examples", "16",
            "--test-examples", "8", "--batch-size", "8", "--max-steps", "1", "--forget-chunks", "0", "--quiet",
            *extra]


# --- safetensors files -------------------------------------------------------------------------------------------

def truncated_header(ctx: Ctx) -> Call:
    base = ctx.copy("base")
    f = base / "model.safetensors"
    damage.truncate(f, 8 + damage.header_length(f) // 2)
    return Call(_scan(ctx, base, ctx.copy("adapter")), (str(f), "header"))


def truncated_prefix(ctx: Ctx) -> Call:
    base = ctx.copy("base")
    f = damage.truncate(base / "model.safetensors", 5)
    return Call(_scan(ctx, base, ctx.copy("adapter")), (str(f),))


def truncated_data(ctx: Ctx) -> Call:
    base = ctx.copy("base")
    f = base / "model.safetensors"
    damage.truncate(f, f.stat().st_size - 1000)
    return Call(_scan(ctx, base, ctx.copy("adapter")), (str(f),))


def overlapping_offsets(ctx: Ctx) -> Call:
    base = ctx.copy("base")
    f = damage.overlap(base / "model.safetensors", K0, V0)
    return Call(_scan(ctx, base, ctx.copy("adapter")), (str(f), "overlap"))


def offsets_past_end(ctx: Ctx) -> Call:
    base = ctx.copy("base")
    f = base / "model.safetensors"
    last = damage.tensor_names(f)[-1]
    damage.past_end(f, last)
    return Call(_scan(ctx, base, ctx.copy("adapter")), (str(f), last))


def tuned_truncated(ctx: Ctx) -> Call:
    tuned = ctx.copy("tuned")
    f = tuned / "model.safetensors"
    damage.truncate(f, f.stat().st_size // 2)
    return Call(_scan(ctx, ctx.copy("base"), tuned), (str(f),))


# --- sharded checkpoints -----------------------------------------------------------------------------------------

def shard_missing(ctx: Ctx) -> Call:
    base = ctx.copy("sharded")
    gone = damage.shards(base)[1]
    gone.unlink()
    return Call(_scan(ctx, base, ctx.copy("adapter")), (gone.name,))


def shard_wrong_tensor(ctx: Ctx) -> Call:
    base = ctx.copy("sharded")
    index = base / "model.safetensors.index.json"
    first, second = damage.shards(base)[:2]
    name = damage.tensor_names(first)[0]
    damage.edit_json(index, lambda obj: obj["weight_map"].__setitem__(name, second.name))
    return Call(_scan(ctx, base, ctx.copy("adapter")), (name, second.name))


def shard_duplicate_tensor(ctx: Ctx) -> Call:
    base = ctx.copy("sharded")
    first, second = damage.shards(base)[:2]
    name = damage.tensor_names(first)[0]
    value = damage.read_tensor(first, name)
    damage.edit_tensors(second, lambda t: t.__setitem__(name, value))
    return Call(_scan(ctx, base, ctx.copy("adapter")), (name,))


def shard_index_not_json(ctx: Ctx) -> Call:
    base = ctx.copy("sharded")
    index = base / "model.safetensors.index.json"
    index.write_text('{"weight_map": ')
    return Call(["index", str(base), "--cache-dir", str(ctx.outputs / "cache"), "--quiet"], (str(index), "JSON"))


# --- pairing base and tuned ------------------------------------------------------------------------------------

def shape_mismatch(ctx: Ctx) -> Call:
    tuned = ctx.copy("tuned")
    damage.edit_tensors(tuned / "model.safetensors", lambda t: t.__setitem__(Q0, t[Q0][:16].clone()))
    return Call(_scan(ctx, ctx.copy("base"), tuned), (Q0, "shape"))


def tuned_lacks_tensor(ctx: Ctx) -> Call:
    tuned = ctx.copy("tuned")
    damage.edit_tensors(tuned / "model.safetensors", lambda t: t.pop(Q0))
    return Call(_scan(ctx, ctx.copy("base"), tuned), (Q0,))


def nan_in_base(ctx: Ctx) -> Call:
    base = ctx.copy("base")
    damage.edit_tensors(base / "model.safetensors", damage.set_value(Q0, float("nan")))
    return Call(_scan(ctx, base, ctx.copy("adapter")), (Q0, "non-finite"))


def inf_in_tuned(ctx: Ctx) -> Call:
    tuned = ctx.copy("tuned")
    damage.edit_tensors(tuned / "model.safetensors", damage.set_value(Q0, float("inf")))
    return Call(_scan(ctx, ctx.copy("base"), tuned), (Q0, "non-finite"))


def include_1d(ctx: Ctx) -> Call:
    return Call(_scan(ctx, ctx.copy("base"), ctx.copy("tuned"), "--include", r"layers\.0\..*norm"),
                ("--include", "norm"))


def bad_regex(ctx: Ctx) -> Call:
    return Call(_scan(ctx, ctx.copy("base"), ctx.copy("tuned"), "--exclude", "q_proj("), ("--exclude", "q_proj("))


# --- PEFT adapters ---------------------------------------------------------------------------------------------

def _adapter_config(ctx: Ctx, change) -> tuple[Path, Path]:
    adapter = ctx.copy("adapter")
    config = adapter / "adapter_config.json"
    damage.edit_json(config, change)
    return adapter, config


def adapter_foreign_module(ctx: Ctx) -> Call:
    adapter = ctx.copy("adapter")

    def rename(t):
        for key in [k for k in t if ".layers.1.mlp.down_proj." in k]:
            t[key.replace("down_proj", "zz_proj")] = t.pop(key)

    damage.edit_tensors(adapter / ADAPTER_FILE, rename)
    return Call(_scan(ctx, ctx.copy("base"), adapter), ("zz_proj",))


def adapter_r_disagrees(ctx: Ctx) -> Call:
    adapter, config = _adapter_config(ctx, lambda c: c.__setitem__("r", 5))
    return Call(_scan(ctx, ctx.copy("base"), adapter), (str(config), "r=5", "rank 2"))


def adapter_alpha_not_a_number(ctx: Ctx) -> Call:
    # (lora_alpha 0 is valid in PEFT, ΔW = 0: scanned with a warning, tests/test_warnings.py)
    adapter, config = _adapter_config(ctx, lambda c: c.__setitem__("lora_alpha", "16"))
    return Call(_scan(ctx, ctx.copy("base"), adapter), (str(config), "lora_alpha"))


def adapter_alpha_negative(ctx: Ctx) -> Call:
    adapter, config = _adapter_config(ctx, lambda c: c.__setitem__("lora_alpha", -8))
    return Call(_scale(ctx, ctx.copy("base"), adapter, "--lambda", "0.5"), (str(config), "lora_alpha"))


def adapter_not_lora(ctx: Ctx) -> Call:
    adapter, config = _adapter_config(ctx, lambda c: c.__setitem__("peft_type", "IA3"))
    return Call(_scan(ctx, ctx.copy("base"), adapter), (str(config), "IA3"))


def adapter_config_not_json(ctx: Ctx) -> Call:
    adapter = ctx.copy("adapter")
    config = adapter / "adapter_config.json"
    config.write_text('{"peft_type": "LORA", "r": ')
    return Call(_scan(ctx, ctx.copy("base"), adapter), (str(config), "JSON"))


def adapter_nan(ctx: Ctx) -> Call:
    adapter = ctx.copy("adapter")
    damage.edit_tensors(adapter / ADAPTER_FILE, damage.set_value(ADAPTER_Q0_A, float("nan")))
    return Call(_scan(ctx, ctx.copy("base"), adapter), ("q_proj", "non-finite"))


def adapter_bad_rank_pattern(ctx: Ctx) -> Call:
    adapter, config = _adapter_config(ctx, lambda c: c.__setitem__("rank_pattern", {"q_proj": "two"}))
    return Call(_scan(ctx, ctx.copy("base"), adapter), (str(config), "rank_pattern", "'two'"))


def adapter_for_other_base(ctx: Ctx) -> Call:
    """An adapter whose factors have the right names but another model's width."""
    adapter = ctx.copy("adapter")
    damage.edit_tensors(adapter / ADAPTER_FILE,
                        lambda t: t.__setitem__(ADAPTER_Q0_A, torch.zeros(2, 64).add_(0.01)))
    return Call(_scan(ctx, ctx.copy("base"), adapter), ("q_proj",))


# --- files, folders, pickles -----------------------------------------------------------------------------------

def missing_path(ctx: Ctx) -> Call:
    nope = ctx.inputs / "nope"
    return Call(_scan(ctx, nope, ctx.copy("adapter")), (str(nope), "does not exist"))


def empty_folder(ctx: Ctx) -> Call:
    empty = ctx.inputs / "empty"
    empty.mkdir()
    return Call(["index", str(empty), "--cache-dir", str(ctx.outputs / "cache"), "--quiet"], (str(empty), "empty"))


def symlink_loop(ctx: Ctx) -> Call:
    base = ctx.copy("base")
    f = base / "model.safetensors"
    f.unlink()
    (base / "loop").symlink_to(f)
    f.symlink_to(base / "loop")
    return Call(_scan(ctx, base, ctx.copy("adapter")), (str(base), "symlink loop"))


def pickle_refused(ctx: Ctx) -> Call:
    base = ctx.inputs / "pickled"
    base.mkdir()
    shutil.copy2(ctx.originals.base / "config.json", base / "config.json")
    torch.save(damage.load_all(ctx.originals.base / "model.safetensors"), base / "pytorch_model.bin")
    return Call(_scan(ctx, base, ctx.copy("adapter")), ("pytorch_model.bin", "--allow-pickle"))


def pickle_with_code(ctx: Ctx) -> Call:
    base = ctx.inputs / "pickled"
    base.mkdir()
    shutil.copy2(ctx.originals.base / "config.json", base / "config.json")
    tensors = damage.load_all(ctx.originals.base / "model.safetensors")
    marker = ctx.outputs / "pwned"
    torch.save({**tensors, "payload": damage.Evil(marker)}, base / "pytorch_model.bin")

    def not_run(ctx: Ctx) -> None:
        assert not marker.exists(), "unpickling ran the payload"

    return Call(_scan(ctx, base, ctx.copy("adapter"), "--allow-pickle"), ("pytorch_model.bin", "refused"),
                after=not_run)


def adapter_as_base(ctx: Ctx) -> Call:
    adapter = ctx.copy("adapter")
    return Call(["index", str(adapter), "--cache-dir", str(ctx.outputs / "cache"), "--quiet"],
                (str(adapter), "adapter"))


# --- options ---------------------------------------------------------------------------------------------------

def epsilon_zero(ctx: Ctx) -> Call:
    return Call(_scan(ctx, ctx.copy("base"), ctx.copy("adapter"), "--epsilon", "0"), ("epsilon", "(0, 1]"))


def epsilon_above_one(ctx: Ctx) -> Call:
    return Call(_scale(ctx, ctx.copy("base"), ctx.copy("adapter"), "--lambda", "0.5", "--epsilon", "1.5"),
                ("epsilon", "(0, 1]"))


def epsilons_not_numbers(ctx: Ctx) -> Call:
    return Call(_scan(ctx, ctx.copy("base"), ctx.copy("adapter"), "--epsilons", "0.1,x"), ("--epsilons", "'0.1,x'"))


def k_zero(ctx: Ctx) -> Call:
    return Call(_scan(ctx, ctx.copy("base"), ctx.copy("adapter"), "--k", "0"), ("k", "≥ 1"))


def k_too_large(ctx: Ctx) -> Call:
    return Call(_scale(ctx, ctx.copy("base"), ctx.copy("adapter"), "--lambda", "0.5", "--k", "33"),
                ("k=33", "larger than the matrix"))


def workers_zero(ctx: Ctx) -> Call:
    return Call(["index", str(ctx.copy("base")), "--cache-dir", str(ctx.outputs / "cache"), "--workers", "0",
                 "--quiet"], ("workers",))


def lambda_negative(ctx: Ctx) -> Call:
    return Call(_scale(ctx, ctx.copy("base"), ctx.copy("adapter"), "--lambda", "0.5,-1"), ("--lambda", "-1"))


def scale_unknown_target(ctx: Ctx) -> Call:
    return Call(_scale(ctx, ctx.copy("base"), ctx.copy("adapter"), "--lambda", "0.5", "--target", "bottom"),
                ("target", "'bottom'"))


def scale_out_not_empty(ctx: Ctx) -> Call:
    out = ctx.inputs / "taken"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    return Call(["scale", str(ctx.copy("base")), str(ctx.copy("adapter")), "--lambda", "0.5", "--out", str(out),
                 "--quiet"], (str(out), "--force"))


# --- output locations ------------------------------------------------------------------------------------------

def scan_json_unwritable(ctx: Ctx) -> Call:
    where = unwritable(ctx) / "scan.json"
    return Call(["scan", str(ctx.copy("base")), str(ctx.copy("adapter")), "--json", str(where), "--quiet",
                 "--no-cache"], (str(where),))


def scale_out_unwritable(ctx: Ctx) -> Call:
    where = unwritable(ctx) / "lorascope-scaled"
    return Call(["scale", str(ctx.copy("base")), str(ctx.copy("adapter")), "--lambda", "0.5", "--out", str(where),
                 "--quiet", "--no-cache"], (str(where),))


def scale_disk_full(ctx: Ctx) -> Call:
    return Call(_scale(ctx, ctx.copy("base"), ctx.copy("tuned"), "--lambda", "0.5", "--no-cache"),
                (f"--out {ctx.outputs / 'scaled'}", "File too large"), fsize=FULL_DISK)


def index_cache_unwritable(ctx: Ctx) -> Call:
    where = unwritable(ctx) / "lorascope-cache"
    return Call(["index", str(ctx.copy("base")), "--cache-dir", str(where), "--quiet"], (str(where),))


def index_disk_full(ctx: Ctx) -> Call:
    models_dir = ctx.copy("base")
    # a matrix whose U.npy (4·m·min(m, n) bytes) cannot fit under the 64 KiB file-size limit
    damage.edit_tensors(models_dir / "model.safetensors",
                        lambda t: t.__setitem__(Q0, torch.randn(160, 160, generator=torch.Generator().manual_seed(0))))
    return Call(["index", str(models_dir), "--cache-dir", str(ctx.cache), "--include", r"layers\.0\..*q_proj",
                 "--quiet"], ("--cache-dir",), fsize=FULL_DISK)


def report_json_unwritable(ctx: Ctx) -> Call:
    where = unwritable(ctx) / "report.html"
    return Call(["report", str(ctx.copy("scan_json", "scan.json")), "-o", str(where), "--quiet"], (str(where),))


# --- report ----------------------------------------------------------------------------------------------------

def report_missing_input(ctx: Ctx) -> Call:
    nope = ctx.inputs / "nope.json"
    return Call(["report", str(nope), "-o", str(ctx.outputs / "r.html")], (str(nope), "no such file"))


def report_bad_json(ctx: Ctx) -> Call:
    f = ctx.copy("scan_json", "scan.json")
    f.write_text(f.read_text()[:200])
    return Call(["report", str(f), "-o", str(ctx.outputs / "r.html")], (str(f), "JSON"))


def report_wrong_schema(ctx: Ctx) -> Call:
    f = ctx.inputs / "other.json"
    f.write_text(json.dumps({"hello": [1, 2, 3]}))
    return Call(["report", str(f), "-o", str(ctx.outputs / "r.html")], (str(f),))


def report_empty_folder(ctx: Ctx) -> Call:
    folder = ctx.inputs / "nothing"
    folder.mkdir()
    return Call(["report", str(folder), "-o", str(ctx.outputs / "r.html")], (str(folder),))


def report_bad_format(ctx: Ctx) -> Call:
    return Call(["report", str(ctx.copy("scan_json", "scan.json")), "-o", str(ctx.outputs / "r.html"),
                 "--format", "pdf"], ("--format", "'pdf'"))


# --- train and forget ------------------------------------------------------------------------------------------

def train_unknown_task(ctx: Ctx) -> Call:
    return Call(_train(ctx, "--task", "sst2"), ("sst2", "rt_polarity"))


def train_unknown_model(ctx: Ctx) -> Call:
    return Call(["train", "--out", str(ctx.outputs / "run"), "--model", "roberta-base", "--quiet"],
                ("roberta-base", "smollm2"))


def train_rank_zero(ctx: Ctx) -> Call:
    return Call(_train(ctx, "--rank", "0"), ("rank",))


def train_unknown_method(ctx: Ctx) -> Call:
    return Call(_train(ctx, "--method", "dora"), ("method", "dora"))


def train_too_many_layers(ctx: Ctx) -> Call:
    return Call(_train(ctx, "--train-layers", "top:9"), ("top:9",))


def train_out_is_file(ctx: Ctx) -> Call:
    f = ctx.inputs / "run.txt"
    f.write_text("not a folder")
    args = _train(ctx)
    args[args.index("--out") + 1] = str(f)
    return Call(args, ("--out", str(f)))


def _data(ctx: Ctx, name: str, content: str) -> Path:
    path = ctx.inputs / name
    path.write_text(content)
    return path


def _rows(labels: str) -> str:
    return "".join(f"sentence number {i} is here,{label}\n" for i, label in enumerate(labels * 8))


def train_data_missing_column(ctx: Ctx) -> Call:
    data = _data(ctx, "d.csv", "sentence,label\n" + _rows("ab"))
    return Call(_train(ctx, "--data", str(data)), (str(data), "'text'", "sentence, label"))


def train_data_empty(ctx: Ctx) -> Call:
    data = _data(ctx, "d.jsonl", "")
    return Call(_train(ctx, "--data", str(data)), (str(data), "empty file"))


def train_data_single_class(ctx: Ctx) -> Call:
    data = _data(ctx, "d.csv", "text,label\n" + _rows("a"))
    return Call(_train(ctx, "--data", str(data)), (str(data), "single class"))


def train_data_unparseable_line(ctx: Ctx) -> Call:
    data = _data(ctx, "d.csv", "text,label\n" + _rows("ab") + "one,two,three\n" + _rows("ab"))
    return Call(_train(ctx, "--data", str(data)), (str(data), "line 18"))


def train_test_label_unseen(ctx: Ctx) -> Call:
    data = _data(ctx, "d.csv", "text,label\n" + _rows("ab"))
    test = _data(ctx, "t.csv", "text,label\n" + _rows("ac"))
    return Call(_train(ctx, "--data", str(data), "--test-data", str(test)), (str(test), "'c'", "never"))


def train_missing_forget_text(ctx: Ctx) -> Call:
    nope = ctx.inputs / "nope.txt"
    args = _train(ctx, "--forget-text", str(nope))
    args[args.index("--forget-chunks") + 1] = "1"
    return Call(args, ("--forget-text", str(nope)))


def train_task_and_data(ctx: Ctx) -> Call:
    data = _data(ctx, "d.csv", "text,label\n" + _rows("ab"))
    return Call(_train(ctx, "--task", "rt_polarity", "--data", str(data)), ("--task", "--data"))


def forget_missing_model(ctx: Ctx) -> Call:
    nope = ctx.inputs / "nope"
    return Call(["forget", str(nope), "--text", str(ctx.copy("text", "text.txt")),
                 "--json", str(ctx.outputs / "f.json")], (str(nope),))


def forget_missing_text(ctx: Ctx) -> Call:
    nope = ctx.inputs / "nope.txt"
    return Call(["forget", str(ctx.copy("trainable")), "--text", str(nope), "--json", str(ctx.outputs / "f.json")],
                ("--text", str(nope)))


def forget_short_chunks(ctx: Ctx) -> Call:
    return Call(["forget", str(ctx.copy("trainable")), "--text", str(ctx.copy("text", "text.txt")),
                 "--chunk-length", "2", "--json", str(ctx.outputs / "f.json")], ("chunk_length",))


def forget_adapter_not_adapter(ctx: Ctx) -> Call:
    model = ctx.copy("trainable")
    return Call(["forget", str(model), "--adapter", str(ctx.copy("base")), "--text", str(ctx.copy("text", "text.txt")),
                 "--json", str(ctx.outputs / "f.json")], ("--adapter", "adapter_config.json"))


# --- run (experiment recipes) ----------------------------------------------------------------------------------

EXPERIMENT = """recipe = "rank_sweep"
description = "a broken recipe"

[train]
model = "smollm2"
max_steps = 2

[grid]
tasks = ["rt_polarity"]
ranks = [1]
"""


def _experiment(ctx: Ctx, text: str) -> tuple[Path, list[str]]:
    f = ctx.inputs / "broken.toml"
    f.write_text(text)
    return f, ["run", str(f), "--out", str(ctx.outputs / "results"), "--cache-dir", str(ctx.cache), "--quiet"]


def run_unknown_key(ctx: Ctx) -> Call:
    f, args = _experiment(ctx, EXPERIMENT.replace("max_steps = 2", "max_steps = 2\nlearning_rat = 0.1"))
    return Call(args, (str(f), "learning_rat"))


def run_wrong_type(ctx: Ctx) -> Call:
    f, args = _experiment(ctx, EXPERIMENT.replace("max_steps = 2", 'max_steps = "two"'))
    return Call(args, (str(f), "max_steps"))


def run_unknown_section(ctx: Ctx) -> Call:
    f, args = _experiment(ctx, EXPERIMENT + "\n[gird]\nranks = [2]\n")
    return Call(args, (str(f), "gird"))


def run_not_toml(ctx: Ctx) -> Call:
    f, args = _experiment(ctx, EXPERIMENT.replace("[grid]", "[grid"))
    return Call(args, (str(f), "TOML"))


def run_unknown_profile(ctx: Ctx) -> Call:
    f, args = _experiment(ctx, EXPERIMENT)
    return Call([*args, "--profile", "huge"], (str(f), "huge"))


# --- repair ---------------------------------------------------------------------------------------------------

def _repair(ctx: Ctx, data: Path, *extra: str) -> list[str]:
    return ["repair", str(ctx.copy("base")), str(ctx.copy("adapter")), "--data", str(data), "--out",
            str(ctx.outputs / "repaired"), "--quiet", "--no-cache", *extra]


def _val(ctx: Ctx, text: str = "text\nthe quick brown fox\nanother line\n") -> Path:
    path = ctx.inputs / "val.csv"
    path.write_text(text)
    return path


def repair_data_missing_column(ctx: Ctx) -> Call:
    data = _val(ctx, "sentence\nthe quick brown fox\n")
    return Call(_repair(ctx, data), (str(data), "'text'", "sentence"))


def repair_lambdas_include_one(ctx: Ctx) -> Call:
    return Call(_repair(ctx, _val(ctx), "--lambdas", "0.5,1"), ("--lambdas",))


def repair_unknown_target(ctx: Ctx) -> Call:
    return Call(_repair(ctx, _val(ctx), "--target", "neighbour"), ("--target", "'neighbour'"))


def repair_missing_forget_text(ctx: Ctx) -> Call:
    nope = ctx.inputs / "nope.txt"
    return Call(_repair(ctx, _val(ctx), "--forget-text", str(nope)), (str(nope),))


def repair_base_without_tokenizer(ctx: Ctx) -> Call:
    return Call(_repair(ctx, _val(ctx)), (str(ctx.inputs / "base"), "tokenizer"))


def run_bad_override(ctx: Ctx) -> Call:
    f, args = _experiment(ctx, EXPERIMENT)
    return Call([*args, "--set", "train.rank=0"], ("rank",))


def run_missing_file(ctx: Ctx) -> Call:
    nope = ctx.inputs / "nope.toml"
    return Call(["run", str(nope), "--out", str(ctx.outputs / "results")], (str(nope),))


CASES: list[Callable[[Ctx], Call]] = [
    truncated_header, truncated_prefix, truncated_data, overlapping_offsets, offsets_past_end, tuned_truncated,
    shard_missing, shard_wrong_tensor, shard_duplicate_tensor, shard_index_not_json,
    shape_mismatch, tuned_lacks_tensor, nan_in_base, inf_in_tuned, include_1d, bad_regex,
    adapter_foreign_module, adapter_r_disagrees, adapter_alpha_not_a_number, adapter_alpha_negative, adapter_not_lora,
    adapter_config_not_json, adapter_nan, adapter_bad_rank_pattern, adapter_for_other_base,
    missing_path, empty_folder, symlink_loop, pickle_refused, pickle_with_code, adapter_as_base,
    epsilon_zero, epsilon_above_one, epsilons_not_numbers, k_zero, k_too_large, workers_zero,
    lambda_negative, scale_unknown_target, scale_out_not_empty,
    scan_json_unwritable, scale_out_unwritable, scale_disk_full, index_cache_unwritable, index_disk_full,
    report_json_unwritable, report_missing_input, report_bad_json, report_wrong_schema, report_empty_folder,
    report_bad_format,
    train_unknown_task, train_unknown_model, train_rank_zero, train_unknown_method, train_too_many_layers,
    train_out_is_file, train_data_missing_column, train_data_empty, train_data_single_class,
    train_data_unparseable_line, train_test_label_unseen, train_missing_forget_text, train_task_and_data,
    forget_missing_model, forget_missing_text, forget_short_chunks, forget_adapter_not_adapter,
    run_unknown_key, run_wrong_type, run_unknown_section, run_not_toml, run_unknown_profile, run_bad_override,
    run_missing_file,
    repair_data_missing_column, repair_lambdas_include_one, repair_unknown_target, repair_missing_forget_text,
    repair_base_without_tokenizer,
]
