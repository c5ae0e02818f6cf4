"""Seconds per training step: lorascope's loop vs a plain transformers + PEFT loop, and the monitor's cost.

    python bench/train_bench.py --quick          # a small random LLaMA built from a config (minutes)
    python bench/train_bench.py                  # SmolLM2-135M-Instruct, every layer (slow on a CPU)

Both loops train the same model with LoRA (every attention and MLP matrix, the head densely) on
the same batches of real reviews, in the same process, alternating `--repeats` times. lorascope's
loop is `lorascope.pipelines.train.train` (its saves included, its evaluations excluded); the plain
loop is AutoModelForSequenceClassification + get_peft_model + AdamW + a linear schedule on
pre-tokenised batches. The monitor's cost is measured on the plain loop with an IntruderMonitor
every `--monitor-every` steps. Not a test: it prints a report.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def small_llama(folder: Path) -> Path:
    """A seeded 4-block LLaMA, hidden 256, with the character tokenizer of the tests."""
    sys.path.insert(0, str(ROOT / "tests"))
    from lorascope.training.modeling import quiet_transformers
    from training.toys import tiny_llama_dir

    with quiet_transformers():
        return tiny_llama_dir(folder / "small-llama", hidden=256, layers=4, inter=688)


def plain_loop(model_dir: Path, rows, args, monitor_every: int | None = None) -> list[float]:
    """Seconds of each step of a textbook transformers + PEFT loop (optionally with the monitor)."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    from lorascope.monitor import IntruderMonitor
    from lorascope.training.data import epoch_batches
    from lorascope.training.modeling import block_matrices, quiet_transformers

    tok = AutoTokenizer.from_pretrained(model_dir)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    torch.manual_seed(0)
    with quiet_transformers():
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=2,
                                                                   pad_token_id=tok.pad_token_id)
        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=block_matrices(model),
                                                 task_type="SEQ_CLS"))
    monitor = IntruderMonitor(model, every=monitor_every) if monitor_every else None
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.0)
    sched = get_linear_schedule_with_warmup(opt, 1, args.steps)
    texts, labels = [t for t, _ in rows], [y for _, y in rows]
    enc = tok(texts, truncation=True, max_length=args.max_length)["input_ids"]
    model.train()
    times = []
    for step, idx in enumerate(epoch_batches(len(rows), args.batch_size, 0, 0)[:args.steps], start=1):
        t0 = time.perf_counter()
        batch = tok.pad({"input_ids": [enc[i] for i in idx]}, return_tensors="pt")
        out = model(**batch, labels=torch.tensor([labels[i] for i in idx]))
        out.loss.backward()
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if monitor is not None:
            monitor.step(model, step)
        times.append(time.perf_counter() - t0)
    return times


def lorascope_loop(model_dir: Path, args, out: Path, cache: Path) -> list[float]:
    """Seconds of each step of lorascope's train loop (from one step event to the next, evaluations excluded)."""
    from lorascope.pipelines.train import TrainConfig, train

    stamps: list[tuple[str, float]] = []
    cfg = TrainConfig(model=str(model_dir), task="rt_polarity", method="lora", rank=8, lr=1e-4,
                      max_steps=args.steps, batch_size=args.batch_size, max_length=args.max_length,
                      train_examples=args.steps * args.batch_size, test_examples=16, forget_chunks=1,
                      forget_chunk_length=32)
    train(cfg, out, cache_dir=cache, progress=lambda e: stamps.append((e.kind, time.perf_counter())))
    times = []
    for (kind_a, t_a), (kind_b, t_b), *_ in zip(stamps, stamps[1:], strict=False):
        if kind_a == "step" and kind_b == "step":
            times.append(t_b - t_a)
    return times


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small random LLaMA (minutes)")
    parser.add_argument("--model", default=None, help="model directory or registered name [smollm2]")
    parser.add_argument("--steps", type=int, default=None, help="steps per measurement [quick 30, else 8]")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-length", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2, help="alternating measurements of each loop")
    parser.add_argument("--monitor-every", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    args.steps = args.steps or (30 if args.quick else 8)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(args.threads)

    from lorascope.datasets import rt_polarity
    from lorascope.training.data import take_subset
    from lorascope.training.registry import resolve_model

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = small_llama(tmp) if args.quick and args.model is None else resolve_model(args.model or "smollm2")
        task = rt_polarity()
        rows = take_subset([r for r in task.train if r[0] not in {t for t, _ in task.test}],
                           args.steps * args.batch_size)
        skip = 2  # first steps warm caches and allocators
        plain, ours, monitored = [], [], []
        for r in range(args.repeats):
            plain += plain_loop(model_dir, rows, args)[skip:]
            ours += lorascope_loop(model_dir, args, tmp / f"run{r}", tmp / "cache")[skip:]
            monitored += plain_loop(model_dir, rows, args, args.monitor_every)[skip:]
        p, o = statistics.median(plain), statistics.median(ours)
        mean_plain, mean_mon = statistics.mean(plain), statistics.mean(monitored)
        mon_steps = [t for i, t in enumerate(monitored) if (i + skip + 1) % args.monitor_every == 0]
        print(f"model {model_dir.name}, batch {args.batch_size} x {args.max_length} tokens, {args.threads} thread(s), "
              f"{args.steps} steps x {args.repeats} repeats (first {skip} dropped)")
        print(f"plain transformers+PEFT loop: median {p:.4f} s/step (mean {mean_plain:.4f})")
        print(f"lorascope train loop:         median {o:.4f} s/step (mean {statistics.mean(ours):.4f})")
        print(f"lorascope overhead:           {100 * (o / p - 1):+.1f}% (median; target <= 10%)")
        print(f"monitor every {args.monitor_every} steps:       mean {mean_mon:.4f} s/step "
              f"({100 * (mean_mon / mean_plain - 1):+.1f}%); a monitored step "
              f"{statistics.median(mon_steps) if mon_steps else float('nan'):.4f} s")


if __name__ == "__main__":
    main()
