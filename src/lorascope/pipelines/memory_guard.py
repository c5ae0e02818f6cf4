"""The memory guards of `train` (and so of `run`'s training jobs) and `forget`: the footprint of the work
(lorascope.training.footprint), checked once the sizes are known and before anything is written or cached."""

from __future__ import annotations

from pathlib import Path

from lorascope.memory import check_budget
from lorascope.training.config import TrainConfig
from lorascope.training.data import Encoded
from lorascope.training.footprint import Footprint, checkpoint_params, dims_of, forget_footprint, train_footprint
from lorascope.training.lm import LOGIT_TOKENS, causal_batches
from lorascope.training.modeling import clean_name
from lorascope.training.probe import current_tuned

TRAIN_HINT = ("lower --batch-size, train fewer blocks with --train-layers top:N (their bottom is cached once), "
              "or shorten --max-length")


def _unique_params(model, besides=None) -> int:
    """Parameters of `model` (not shared with `besides`), counted once each."""
    seen = {p.data_ptr() for p in besides.parameters()} if besides is not None else set()
    total = 0
    for p in model.parameters():
        if p.data_ptr() not in seen:
            seen.add(p.data_ptr())
            total += p.numel()
    return total


def _probe_shapes(clf) -> list[tuple[int, int]]:
    modules = {clean_name(n): m for n, m in clf.model.named_modules()}
    shapes = []
    for name in clf.matrices:
        W0, tuned = current_tuned(modules[name])
        shapes.append(tuple((W0 if W0 is not None else tuned).shape))
    return shapes


def _lm_scoring(held_out) -> tuple[int, int, int]:
    """(rows, width, logit rows) of held-out LM scoring's largest forward: the causal loss batches equal-length
    chunks (causal_batches) and holds logits of LOGIT_TOKENS positions at a time; the pseudo-loss all of them."""
    if held_out.chunks is None:
        batch, width = 8 * held_out.batch_size, held_out.chunk_length
        return batch, width, batch * width
    inputs = held_out.chunks.input_ids
    width = max((len(c) for c in inputs), default=1)
    tokens = max((sum(len(inputs[c]) for c in idx) for idx in causal_batches(held_out.chunks, held_out.batch_size)),
                 default=1)
    return -(-tokens // width), width, min(tokens, LOGIT_TOKENS)


def _tokens(data: Encoded, width: int) -> int:
    return sum(min(len(ids), width) for ids in data.ids)


def train_session_footprint(clf, config: TrainConfig, train_data: Encoded, test_data: Encoded, *, lm=None,
                            held_out=None, cached: bool = False) -> Footprint:
    """The estimate (lorascope.training.footprint) of one session of this run, from the built model and data."""
    dims = dims_of(clf.unwrapped().config)
    width = min(config.max_length, max((len(ids) for ids in train_data.ids), default=1))
    lm_batch = lm_width = lm_logit_rows = 0
    cached_tokens = _tokens(train_data, width) + _tokens(test_data, width) if cached else 0
    if held_out is not None:
        lm_batch, lm_width, lm_logit_rows = _lm_scoring(held_out)
        if held_out.chunks is not None:
            cached_tokens += sum(len(c) for c in held_out.chunks.input_ids) if cached else 0
    lm_params = _unique_params(lm, clf.model) if lm is not None and lm is not clf.model else 0
    estimate = train_footprint(
        dims, params=_unique_params(clf.model), trainable=sum(p.numel() for _, p in clf.trainable),
        trained_blocks=len(clf.blocks) - clf.first_trained, batch=config.batch_size, width=width,
        eval_batch=config.eval_batch_size, cached_tokens=cached_tokens, probe_shapes=_probe_shapes(clf),
        full=config.method == "full", lm_params=lm_params, lm_batch=lm_batch, lm_width=lm_width,
        lm_logit_rows=lm_logit_rows,
        lm_objective=getattr(config, "objective", "classify") == "lm")
    return estimate


def check_train_memory(clf, config: TrainConfig, train_data: Encoded, test_data: Encoded, *, lm=None,
                       held_out=None, cached: bool = False) -> Footprint:
    """Raise ResourceError (one line: estimate, memory available, options that help) if the run cannot fit."""
    estimate = train_session_footprint(clf, config, train_data, test_data, lm=lm, held_out=held_out, cached=cached)
    check_budget("train", estimate.total, estimate.describe(), hint=TRAIN_HINT, loaded=estimate.loaded)
    return estimate


FORGET_HINT = ("score fewer tokens per forward: a smaller batch_size or rolling window (ForgetOptions batch_size, "
               "context), or --chunk-length in stream mode")


def check_forget_memory(head_dir: Path, held_out, *, models: int = 1) -> Footprint:
    """Raise ResourceError if scoring `models` LMs of `head_dir`'s size at once on `held_out` cannot fit."""
    from transformers import AutoConfig

    dims = dims_of(AutoConfig.from_pretrained(head_dir))
    batch, width, logit_rows = _lm_scoring(held_out)
    estimate = forget_footprint(dims, params=checkpoint_params(head_dir), models=models, batch=batch, width=width,
                                logit_rows=logit_rows)
    check_budget("forget", estimate.total, estimate.describe(), hint=FORGET_HINT)
    return estimate
