"""`lorascope train`: the Typer command over lorascope.pipelines.train (registered by cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from lorascope.commands.options import option, option_unset
from lorascope.training.config import TrainConfig

COLUMNS = ("step", "epoch", "quality", "forgetting", "lm_loss", "intruders", "train_loss", "sec_per_step")


def _fmt(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1000 else f"{value:.0f}"
    return str(value)


def _cell(row: dict, column: str) -> str:
    """A table cell; "quality" is the run's own measure (accuracy, or the task loss of an lm run)."""
    return _fmt(row.get(row.get("quality_metric") or "accuracy") if column == "quality" else row[column])


def train_command(
    out: Annotated[
        Path, typer.Option("--out", help="run folder: config.json, results.jsonl, checkpoints/, state/")
    ],
    model: str = option(TrainConfig, "model"),
    task: str | None = option_unset(TrainConfig, "task"),
    data: str | None = option(TrainConfig, "data"),
    test_data: str | None = option(TrainConfig, "test_data"),
    test_fraction: float = option(TrainConfig, "test_fraction"),
    split_seed: int = option(TrainConfig, "split_seed"),
    text_column: str = option(TrainConfig, "text_column"),
    label_column: str = option(TrainConfig, "label_column"),
    objective: str = option(TrainConfig, "objective"),
    method: str = option(TrainConfig, "method"),
    rank: int = option(TrainConfig, "rank"),
    alpha: float | None = option(TrainConfig, "alpha"),
    lr: float | None = option(TrainConfig, "lr"),
    lora_lr_product: float = option(TrainConfig, "lora_lr_product"),
    epochs: int = option(TrainConfig, "epochs"),
    max_steps: int | None = option(TrainConfig, "max_steps"),
    batch_size: int = option(TrainConfig, "batch_size"),
    max_length: int = option(TrainConfig, "max_length"),
    seed: int = option(TrainConfig, "seed"),
    train_layers: str = option(TrainConfig, "train_layers"),
    eval_every: int | None = option(TrainConfig, "eval_every"),
    save_every: int = option(TrainConfig, "save_every"),
    train_examples: int | None = option(TrainConfig, "train_examples"),
    test_examples: int | None = option(TrainConfig, "test_examples"),
    forget_chunks: int = option(TrainConfig, "forget_chunks"),
    forget_chunk_length: int = option(TrainConfig, "forget_chunk_length"),
    forget_text: str | None = option(TrainConfig, "forget_text"),
    forget_text_column: str = option(TrainConfig, "forget_text_column"),
    forget_mode: str = option(TrainConfig, "forget_mode"),
    forget_context: int | None = option(TrainConfig, "forget_context"),
    threads: int | None = option(TrainConfig, "threads"),
    freeze_a: bool = option(TrainConfig, "freeze_a"),
    cache_dir: Annotated[
        Path | None, typer.Option(help="cache for converted models and hidden states")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress, only the final line")] = False,
) -> None:
    """Fine-tune a model on a registered task or your own data file (LoRA or full; a classifier, or the causal
    LM itself with --objective lm), tracking task quality, forgetting and intruders.

    Rerun the same command to resume an interrupted run.
    """
    from lorascope.errors import InputError
    from lorascope.pipelines.train import train

    if task is not None and data is not None:
        raise InputError(f"--task {task} and --data {data}: give one (the data file is the task)")
    config = TrainConfig(
        model=model,
        task=task if task is not None else TrainConfig.task,
        data=data,
        test_data=test_data,
        test_fraction=test_fraction,
        split_seed=split_seed,
        text_column=text_column,
        label_column=label_column,
        objective=objective,
        method=method,
        rank=rank,
        alpha=alpha,
        lr=lr,
        lora_lr_product=lora_lr_product,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        max_length=max_length,
        seed=seed,
        train_layers=train_layers,
        eval_every=eval_every,
        save_every=save_every,
        train_examples=train_examples,
        test_examples=test_examples,
        forget_chunks=forget_chunks,
        forget_chunk_length=forget_chunk_length,
        forget_text=forget_text,
        forget_text_column=forget_text_column,
        forget_mode=forget_mode,
        forget_context=forget_context,
        threads=threads,
        freeze_a=freeze_a,
    )
    out_console = Console()
    if quiet:
        result = train(config, out, cache_dir=cache_dir)
    else:
        result = _with_progress(lambda cb: train(config, out, cache_dir=cache_dir, progress=cb))
    last = result.final
    if quiet:
        out_console.print(
            f"{result.run_id}: step {last['step']} {last['quality_metric']} {_cell(last, 'quality')} "
            f"forgetting {_fmt(last['forgetting'])} intruders {last['intruders']}",
            markup=False,
            highlight=False,
        )
        return
    table = Table(title=f"{result.run_id} ({out})")
    for col in COLUMNS:
        table.add_column(last["quality_metric"] if col == "quality" else col, justify="right")
    for row in result.rows:
        table.add_row(*(_cell(row, c) for c in COLUMNS))
    out_console.print(table)


def _with_progress(run):
    """Run `run(callback)` under a Rich progress bar on stderr; evaluation points print above it."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    err = Console(stderr=True)
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )
    with bar:
        task = bar.add_task("starting", total=None, info="")

        def update(event) -> None:
            if event.kind == "info":
                bar.console.print(f"[dim]{event.message}[/dim]")
            elif event.kind == "cache":
                bar.update(
                    task,
                    description=f"caching {event.message}",
                    completed=event.step,
                    total=event.total,
                    info="",
                )
            elif event.kind == "step":
                eta = f"ETA {event.eta / 60:.1f} min" if event.eta is not None else ""
                bar.update(
                    task,
                    description="training",
                    completed=event.step,
                    total=event.total,
                    info=f"loss {event.loss:.4f}  {eta}",
                )
            elif event.kind == "eval":
                r = event.row
                bar.console.print(
                    f"step {r['step']:>5}  epoch {r['epoch']:.2f}  "
                    f"{r['quality_metric']} {_cell(r, 'quality')}  "
                    f"forgetting {_fmt(r['forgetting'])}  intruders {r['intruders']}  "
                    f"({r['eval_seconds']:.0f} s eval)",
                    markup=False,
                    highlight=False,
                )

        return run(update)
