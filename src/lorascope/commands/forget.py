"""`lorascope forget`: the Typer command over lorascope.pipelines.forget (registered by cli.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from lorascope.commands.options import option
from lorascope.pipelines.forget import ForgetOptions


def forget_command(
    model: Annotated[
        str | None,
        typer.Argument(help="the model scored: smollm2 | a HF directory | a Hub id (org/name, org/name@revision); "
                            "with --adapter, the base model (omitted: the base that adapter_config.json names)"),
    ] = None,
    adapter: Annotated[str | None, typer.Option(help="PEFT adapter applied to MODEL (folder or Hub id)")] = None,
    base: Annotated[
        str | None,
        typer.Option(
            help="base model: its loss is subtracted; its LM head scores a sequence-classifier MODEL"
        ),
    ] = None,
    text: Annotated[Path | None, typer.Option(
        help="held-out text: plain text, one document per line, or JSONL/CSV/Parquet with --text-column "
             "[default: the bundled news articles]")] = None,
    json_path: Annotated[
        Path | None, typer.Option("--json", help="write loss, tokens and per-document losses")
    ] = None,
    chunks: int | None = option(ForgetOptions, "chunks"),
    chunk_length: int = option(ForgetOptions, "chunk_length"),
    threads: int | None = option(ForgetOptions, "threads"),
    mode: str = option(ForgetOptions, "mode"),
    context: int | None = option(ForgetOptions, "context"),
    text_column: str = option(ForgetOptions, "text_column"),
    cache_dir: Annotated[Path | None, typer.Option(help="cache for converted models")] = None,
) -> None:
    """LM loss of a fine-tuned model on held-out text, and forgetting = tuned loss - base loss."""
    from lorascope.errors import InputError
    from lorascope.pipelines.forget import forget

    if json_path is not None and (
        json_path.is_dir() or not (json_path.parent if str(json_path.parent) else Path(".")).is_dir()
    ):
        raise InputError(f"--json {json_path}: cannot write there")
    result = forget(
        model,
        adapter=adapter,
        base=base,
        text=text,
        cache_dir=cache_dir,
        options=ForgetOptions(chunks=chunks, chunk_length=chunk_length, threads=threads, mode=mode, context=context,
                              text_column=text_column),
    )
    if json_path is not None:
        result.save_json(json_path)
    window = f", {result.mode} windows of {result.context}" if result.context else f", {result.mode}"
    line = (f"{result.kind} LM loss {result.loss:.4f} nats/token (perplexity {result.perplexity:.2f}) over "
            f"{result.tokens} tokens of {len(result.documents)} documents of {result.text}{window}")
    if result.forgetting is not None:
        line += f"; base {result.base_loss:.4f}; forgetting {result.forgetting:+.4f}"
    Console().print(line, markup=False, highlight=False, soft_wrap=True)
