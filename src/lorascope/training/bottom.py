"""Train only the top blocks: compute the frozen bottom once per example, keep its output on disk.

`capture_block_input` runs a model until the hidden state enters block `start` and returns it;
`inject_block_input` runs a model with blocks [0, start) skipped and `hidden` fed into block `start`.
Everything else (embeddings lookup, masks, rotary tables, the top blocks, the head) runs as usual, so
the top sees the same inputs as in the uncached forward: the result equals it up to float rounding in
the bottom (the cached states come from differently shaped batches).

`HiddenCache` stores the states of every example, unpadded, in one safetensors file per key. The key
hashes the model's files, the block index, the token ids (which fix tokenizer, truncation and
max_length) and max_length itself.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lorascope.training.data import pad_right


class _Skip(nn.Module):
    """Stands in for a frozen bottom block: passes the hidden state on (the last one emits `payload`)."""

    def __init__(self, holder: dict) -> None:
        super().__init__()
        self.holder = holder

    def forward(self, hidden_states, *args, **kwargs):
        return self.holder["hidden"] if self.holder.get("last") is self else hidden_states


class _Captured(Exception):  # noqa: N818 - control flow, not an error
    def __init__(self, hidden: torch.Tensor) -> None:
        super().__init__("captured")
        self.hidden = hidden


class _Stop(nn.Module):
    def forward(self, hidden_states, *args, **kwargs):
        raise _Captured(hidden_states)


@contextlib.contextmanager
def _swapped(blocks: nn.ModuleList, replacements: dict[int, nn.Module]) -> Iterator[None]:
    originals = {i: blocks[i] for i in replacements}
    try:
        for i, module in replacements.items():
            blocks[i] = module
        yield
    finally:
        for i, module in originals.items():
            blocks[i] = module


@contextlib.contextmanager
def inject_block_input(blocks: nn.ModuleList, start: int, hidden: torch.Tensor) -> Iterator[None]:
    """Inside: forward passes skip blocks [0, start) and feed `hidden` (B, T, H) into block `start`."""
    if start == 0:
        raise ValueError("inject_block_input needs start ≥ 1")
    holder: dict = {"hidden": hidden}
    skips = {i: _Skip(holder) for i in range(start)}
    holder["last"] = skips[start - 1]
    with _swapped(blocks, skips):
        yield


@torch.no_grad()
def capture_block_input(forward: Callable[[], object], blocks: nn.ModuleList, start: int) -> torch.Tensor:
    """The hidden state entering block `start` during `forward()` (the rest of the forward is not run)."""
    with _swapped(blocks, {start: _Stop()}):
        try:
            forward()
        except _Captured as c:
            return c.hidden
    raise RuntimeError(f"block {start} was never reached")


@dataclass(frozen=True)
class HiddenCache:
    """Hidden states of many examples, unpadded: rows offsets[i]:offsets[i+1] of `states` are example i."""

    states: torch.Tensor  # (total tokens, hidden) float32
    offsets: torch.Tensor  # (n + 1,) int64

    def __len__(self) -> int:
        return self.offsets.numel() - 1

    def example(self, i: int) -> torch.Tensor:
        return self.states[int(self.offsets[i]):int(self.offsets[i + 1])]

    def batch(self, indices: list[int], width: int) -> torch.Tensor:
        """(B, width, hidden) with example j's states in its first rows and zeros after (right padding)."""
        out = torch.zeros(len(indices), width, self.states.shape[1], dtype=self.states.dtype)
        for row, i in enumerate(indices):
            x = self.example(i)
            out[row, :x.shape[0]] = x
        return out


def model_fingerprint(model_dir: Path) -> str:
    """sha256 over the model directory's config and weight files (content, not names or dates).

    Hashed once per process while every such file keeps its size and modification time (a 270M model's
    gigabyte takes a second, and every run of a recipe asks)."""
    from lorascope.cache import file_stamps

    files = file_stamps(model_dir, lambda path: path.name == "config.json" or path.suffix in (".safetensors", ".bin"))
    return _content_hash(str(Path(model_dir).resolve()), files)


@functools.lru_cache(maxsize=16)
def _content_hash(model_dir: str, files: tuple[tuple[str, int, int], ...]) -> str:
    h = hashlib.sha256()
    for name, _, _ in files:
        h.update(name.encode())
        with (Path(model_dir) / name).open("rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()


def cache_key(model_fp: str, data_fp: str, start: int, max_length: int, kind: str) -> str:
    """The cache entry's name for these inputs."""
    text = json.dumps({"model": model_fp, "data": data_fp, "layer": start, "max_length": max_length,
                       "kind": kind, "format": 1}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def compute_hidden(run: Callable[[torch.Tensor, torch.Tensor], object], blocks: nn.ModuleList, start: int,
                   seqs: list[list[int]], pad_id: int, batch_size: int = 16,
                   progress: Callable[[int, int], None] | None = None) -> HiddenCache:
    """States entering block `start` for every sequence; batches of similar length, padding cut off."""
    order = sorted(range(len(seqs)), key=lambda i: (len(seqs[i]), i))
    pieces: list[torch.Tensor | None] = [None] * len(seqs)
    for b in range(0, len(order), batch_size):
        chunk = order[b:b + batch_size]
        ids, mask = pad_right([seqs[i] for i in chunk], pad_id)
        hidden = capture_block_input(lambda ids=ids, mask=mask: run(ids, mask), blocks, start)
        for row, i in enumerate(chunk):
            pieces[i] = hidden[row, :len(seqs[i])].detach().to(torch.float32).clone()
        if progress is not None:
            progress(min(b + batch_size, len(order)), len(order))
    lengths = torch.tensor([len(s) for s in seqs], dtype=torch.long)
    offsets = torch.zeros(len(seqs) + 1, dtype=torch.long)
    offsets[1:] = torch.cumsum(lengths, 0)
    states = torch.cat(pieces, 0) if pieces else torch.zeros(0, 0)
    return HiddenCache(states.contiguous(), offsets)


def load_or_compute(folder: Path, key: str, compute: Callable[[], HiddenCache]) -> HiddenCache:
    """The cache entry `key` under `folder`, computed and written atomically (under a lock) if missing."""
    from filelock import FileLock
    from safetensors.torch import load_file, save_file

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.safetensors"
    with FileLock(str(path) + ".lock"):
        if path.is_file():
            data = load_file(path)
            return HiddenCache(data["states"], data["offsets"])
        cache = compute()
        fd, tmp = tempfile.mkstemp(prefix=f".{key}.", suffix=".tmp", dir=folder)
        os.close(fd)
        try:
            save_file({"states": cache.states, "offsets": cache.offsets}, tmp)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    return cache


def load_or_compute_number(folder: Path, key: str, compute: Callable[[], float]) -> float:
    """The number kept under `folder` as `key`.json, computed and written atomically (under a lock) if missing:
    e.g. the base model's LM loss on a text, the same for every run of that base."""
    record = load_or_compute_record(folder, key, lambda: {"value": float(compute())}, required=("value",))
    return float(record["value"])


def load_or_compute_record(folder: Path, key: str, compute: Callable[[], dict[str, Any]],
                           required: tuple[str, ...]) -> dict[str, Any]:
    """The JSON object kept under `folder` as `key`.json, computed and written atomically (under a lock) if
    missing or damaged (not an object holding every `required` key): e.g. the task quality of an untrained
    model, the same for every run that starts from it."""
    from filelock import FileLock

    from lorascope.atomic import atomic_write_text

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.json"
    with FileLock(str(path) + ".lock"):
        if path.is_file():
            try:
                kept = json.loads(path.read_text())
                if isinstance(kept, dict) and all(name in kept for name in required):
                    return kept
            except ValueError:
                pass  # a damaged entry of derived data: computed again and replaced below
        value = compute()
        atomic_write_text(path, json.dumps(value))
    return value

