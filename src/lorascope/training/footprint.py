"""What a training run or a forgetting measurement will hold in memory, estimated before the first step.

Plain arithmetic over shapes (float32, 4 bytes a number), so `train` and `forget` can refuse up front with
the option that helps instead of being killed half-way. The terms, for a model of hidden size h,
intermediate size i, a heads, V vocabulary entries, batch b and sequence length s:

- parameters: every parameter of the model(s) held at once;
- optimizer: gradient + AdamW's two moments of each trainable parameter (3 numbers each);
- activations: what backward needs of each trained block, (12h + 5i + 2·a·s) numbers per token
  (inputs of the norms and linear layers, attention scores and probabilities, the MLP's intermediates),
  times b·s tokens; LoRA adds its factors' inputs (counted in the 12h + 5i);
- evaluation: one no-grad forward of the evaluation batch, one block at a time: (6h + 2i + 2·a·s) per token;
- LM logits: V logits and their log-softmax per position held at once when scoring forgetting (the causal
  loss: a slice of its scored positions; the masked pseudo-loss: all b·s), and b·s·V with their gradient when
  training with the next-token objective;
- cached hidden states: the frozen bottom's output, h numbers per cached token;
- probe: the float64 base spectrum (U: m×p, p = min(m, n)) of every trained matrix, and W0's float32 copy
  for full fine-tuning.

Measured peaks against it (tests/reliability/test_memory.py, README): see lorascope.memory.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lorascope.memory import format_bytes

FLOAT = 4  # bytes of a float32
DOUBLE = 8


@dataclass(frozen=True)
class Dims:
    """The sizes that set activation memory, read from a transformers config (any of the usual names)."""

    hidden: int
    intermediate: int
    heads: int
    layers: int
    vocab: int


def _first(config: Any, *names: str, default: int | None = None) -> int | None:
    for name in names:
        value = config.get(name) if isinstance(config, dict) else getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return default


def dims_of(config: Any) -> Dims:
    """Dims of a transformers config object or config.json dict (LLaMA, BERT, GPT-2 names)."""
    if hasattr(config, "get_text_config"):
        config = config.get_text_config()
    hidden = _first(config, "hidden_size", "n_embd", "d_model", "dim", default=768)
    return Dims(hidden=hidden,
                intermediate=_first(config, "intermediate_size", "n_inner", "ffn_dim", "hidden_dim",
                                    default=4 * hidden),
                heads=_first(config, "num_attention_heads", "n_head", "num_heads", default=12),
                layers=_first(config, "num_hidden_layers", "n_layer", "num_layers", default=12),
                vocab=_first(config, "vocab_size", default=32000))


@dataclass(frozen=True)
class Footprint:
    """An estimate as named parts (bytes); `loaded` of it is already in memory when the check runs."""

    parts: tuple[tuple[str, int], ...]
    loaded: int = 0

    @property
    def total(self) -> int:
        return sum(b for _, b in self.parts)

    def describe(self) -> str:
        """'1.2 GiB (parameters 540.0 MiB, optimizer state 12.0 MiB, ...)' with the zero parts left out."""
        shown = ", ".join(f"{name} {format_bytes(b)}" for name, b in self.parts if b > 0)
        return f"{format_bytes(self.total)} ({shown})"


def train_block_activations(dims: Dims, tokens: int, width: int) -> int:
    """Bytes backward keeps of one trained block for `tokens` tokens in sequences of `width`."""
    return FLOAT * tokens * (12 * dims.hidden + 5 * dims.intermediate + 2 * dims.heads * width)


def eval_block_activations(dims: Dims, tokens: int, width: int) -> int:
    """Bytes a no-grad forward holds at once inside one block."""
    return FLOAT * tokens * (6 * dims.hidden + 2 * dims.intermediate + 2 * dims.heads * width)


def probe_bytes(shapes: Iterable[tuple[int, int]], full: bool) -> int:
    """Float64 base spectra (U and σ) of the probed matrices, plus W0 copies when the weights themselves train."""
    total = 0
    for m, n in shapes:
        p = min(m, n)
        total += DOUBLE * (m * p + p) + (FLOAT * m * n if full else 0)
    return total


def train_footprint(dims: Dims, *, params: int, trainable: int, trained_blocks: int, batch: int, width: int,
                    eval_batch: int, cached_tokens: int, probe_shapes: Sequence[tuple[int, int]], full: bool,
                    lm_params: int = 0, lm_batch: int = 0, lm_width: int = 0, lm_logit_rows: int | None = None,
                    lm_objective: bool = False) -> Footprint:
    """The estimate of one training session (see the module docstring); parameters count as already loaded.

    `lm_*`: the LM head model scored for forgetting (its own parameters, its batch and chunk length, and the
    positions whose logits it holds at once: the causal loss takes a slice, lm_batch · lm_width when None);
    `lm_objective`: next-token training, whose b·s·V logits, log-softmax and gradient are activations too.
    """
    activations = trained_blocks * train_block_activations(dims, batch * width, width)
    if lm_objective:
        activations += 3 * FLOAT * batch * width * dims.vocab
    evaluation = eval_block_activations(dims, eval_batch * width, width)
    if lm_batch:
        evaluation = max(evaluation, eval_block_activations(dims, lm_batch * lm_width, lm_width)
                         + 2 * FLOAT * (lm_batch * lm_width if lm_logit_rows is None else lm_logit_rows) * dims.vocab)
    parts = (("parameters", FLOAT * (params + lm_params)), ("optimizer state", 3 * FLOAT * trainable),
             (f"activations of {trained_blocks} trained blocks at batch {batch} × {width} tokens", activations),
             ("evaluation", evaluation), ("cached hidden states", FLOAT * dims.hidden * cached_tokens),
             ("base spectra of the probed matrices", probe_bytes(probe_shapes, full)))
    return Footprint(parts, loaded=FLOAT * params)


def forget_footprint(dims: Dims, *, params: int, models: int, batch: int, width: int,
                     logit_rows: int | None = None) -> Footprint:
    """The estimate of scoring `models` models of `params` parameters at once on `batch` × `width` tokens,
    holding the logits of `logit_rows` positions at once (the causal loss: a slice; None: every token)."""
    rows = batch * width if logit_rows is None else logit_rows
    label = f"logits of a batch of {batch} × {width} tokens" if logit_rows is None else \
        f"logits of {rows} positions at a time"
    parts = (("parameters", FLOAT * params * models), (label, 2 * FLOAT * rows * dims.vocab),
             ("activations", eval_block_activations(dims, batch * width, width)))
    return Footprint(parts)


def checkpoint_params(folder: Path) -> int:
    """Number of parameters in a model folder's weight files, from their headers (nothing loaded)."""
    from lorascope.weights import open_checkpoint

    store = open_checkpoint(folder, role="MODEL")
    total = 0
    for key in store:
        count = 1
        for d in store.info(key).shape:
            count *= d
        total += count
    return total
