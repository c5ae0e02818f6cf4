"""Accuracy of a frozen backbone on a task with only a fresh classification head fitted (continual learning).

The budget is fixed and recorded (HeadBudget): the backbone's input to the head (for decoder models the
hidden state of the last non-pad token, as HF's sequence classifiers pool; for encoders the pooled
output) is computed once per example; a fresh linear head, seeded, is fitted with AdamW on `examples`
training examples for `steps` steps of `batch_size`, then scored on the task's test examples.

`FrozenBottom`: when every stage trained only the top blocks, the blocks below are the base's, so their
output is computed once per example from the base (an on-disk cache, shared with `train`) and only the
top blocks run for each stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from lorascope.errors import InputError
from lorascope.training.bottom import (
    HiddenCache,
    cache_key,
    compute_hidden,
    inject_block_input,
    load_or_compute,
    model_fingerprint,
)
from lorascope.training.data import Encoded, encode, pad_right, take_subset
from lorascope.training.modeling import HEAD_NAMES, find_blocks, load_tokenizer, quiet_transformers
from lorascope.training.registry import load_task


@dataclass(frozen=True)
class HeadBudget:
    """The fixed budget of every head re-fit."""

    examples: int = 400
    steps: int = 300
    batch_size: int = 32
    lr: float = 1e-3
    seed: int = 0


@dataclass(frozen=True)
class FrozenBottom:
    """Blocks [0, start) of every measured model are `base_dir`'s; their outputs are cached under `root`."""

    base_dir: Path
    start: int
    root: Path

    def cache(self, data: Encoded, max_length: int, batch_size: int) -> HiddenCache:
        """The states entering block `start` for every example of `data` (train's cache entry when it exists)."""
        key = cache_key(model_fingerprint(self.base_dir), data.fingerprint(), self.start, max_length, "classify")

        def compute() -> HiddenCache:
            from transformers import AutoModelForSequenceClassification

            pad = int(load_tokenizer(self.base_dir).pad_token_id)
            with quiet_transformers():
                base = AutoModelForSequenceClassification.from_pretrained(self.base_dir, num_labels=2,
                                                                          dtype=torch.float32, pad_token_id=pad)
            base.eval()
            _, blocks = find_blocks(base)
            return compute_hidden(lambda ids, mask: base(input_ids=ids, attention_mask=mask), blocks, self.start,
                                  data.ids, pad, batch_size)

        return load_or_compute(self.root, key, compute)


@torch.no_grad()
def head_inputs(model: nn.Module, data: Encoded, pad_id: int, batch_size: int, start: int = 0,
                cache: HiddenCache | None = None) -> torch.Tensor:
    """(N, hidden) inputs the classifier's head sees for each example (last non-pad token when per-token);
    with `cache`, blocks [0, start) are skipped and the cached states enter block `start`."""
    head = next((getattr(model, name) for name in HEAD_NAMES if isinstance(getattr(model, name, None), nn.Linear)),
                None)
    if head is None:
        raise InputError(f"{type(model).__name__}: head re-fitting needs a single linear head "
                         f"({' or '.join(HEAD_NAMES)})")
    captured: list[torch.Tensor] = []
    hook = head.register_forward_hook(lambda module, args, output: captured.append(args[0]))
    out = []
    try:
        for first in range(0, len(data), batch_size):
            idx = list(range(first, min(first + batch_size, len(data))))
            ids, mask = pad_right([data.ids[i] for i in idx], pad_id)
            captured.clear()
            if cache is None:
                model(input_ids=ids, attention_mask=mask)
            else:
                with inject_block_input(find_blocks(model)[1], start, cache.batch(idx, ids.shape[1])):
                    model(input_ids=ids, attention_mask=mask)
            x = captured[-1]
            if x.dim() == 3:
                x = x[torch.arange(x.shape[0]), mask.sum(1) - 1]
            out.append(x.float())
    finally:
        hook.remove()
    return torch.cat(out)


def refit_head_accuracy(model_dir: str | Path, task_name: str, max_length: int, test_examples: int | None,
                        budget: HeadBudget, eval_batch_size: int = 32, bottom: FrozenBottom | None = None) -> float:
    """Test accuracy of `model_dir`'s frozen backbone on `task_name` with a freshly fitted linear head."""
    from transformers import AutoModelForSequenceClassification

    task = load_task(task_name)
    tok = load_tokenizer(Path(model_dir))
    pad = int(tok.pad_token_id)
    with quiet_transformers():
        model = AutoModelForSequenceClassification.from_pretrained(
            model_dir, num_labels=len(task.labels), dtype=torch.float32, pad_token_id=pad)
    model.eval()
    test_texts = {text for text, _ in task.test}
    pool = [row for row in task.train if row[0] not in test_texts]
    train = encode(tok, take_subset(pool, budget.examples), max_length)
    test = encode(tok, task.test[:test_examples], max_length)
    if bottom is None:
        x_train, x_test = (head_inputs(model, d, pad, eval_batch_size) for d in (train, test))
    else:
        x_train, x_test = (head_inputs(model, d, pad, eval_batch_size, bottom.start,
                                       bottom.cache(d, max_length, eval_batch_size)) for d in (train, test))
    y_train, y_test = torch.tensor(train.labels), torch.tensor(test.labels)
    generator = torch.Generator().manual_seed(budget.seed)
    head = nn.Linear(x_train.shape[1], len(task.labels))
    with torch.no_grad():
        nn.init.normal_(head.weight, std=0.02, generator=generator)
        head.bias.zero_()
    optimizer = torch.optim.AdamW(head.parameters(), lr=budget.lr, weight_decay=0.0)
    for _ in range(budget.steps):
        idx = torch.randint(0, len(y_train), (min(budget.batch_size, len(y_train)),), generator=generator)
        loss = F.cross_entropy(head(x_train[idx]), y_train[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return float((head(x_test).argmax(-1) == y_test).float().mean())
