"""Task quality of a fine-tune on a task's held-out split: accuracy for a classifier, task loss (and its
perplexity) for a causal LM trained with the lm objective.

`QualityScorer` tokenises the split once and measures any number of models (the training loop's
evaluations, every λ of an intervention or a repair); `load_tuned` loads an adapter or checkpoint as
the model the objective needs. `Quality.drop_from(reference)` is the quality lost, in the metric's own
sense (accuracy fallen, task loss risen), in percent of the reference.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from torch import nn

from lorascope.datasets import TextTask
from lorascope.errors import InputError
from lorascope.training.bottom import HiddenCache
from lorascope.training.data import encode
from lorascope.training.lm_task import TokenLossRunner, perplexity
from lorascope.training.runners import ExampleRunner
from lorascope.training.tuned import load_tuned_classifier, load_tuned_lm

Objective = Literal["classify", "lm"]
QUALITY_METRIC = {"classify": "accuracy", "lm": "task_loss"}


@dataclass(frozen=True)
class Quality:
    """One model's quality on the test split: `metric` names the measure `value` holds."""

    metric: Literal["accuracy", "task_loss"]
    value: float
    accuracy: float | None  # classify
    task_loss: float | None  # lm: mean next-token loss (nats/token) over the test texts
    task_perplexity: float | None  # lm: exp(task_loss)
    examples: int
    tokens: int | None  # lm: next-token targets scored

    @property
    def higher_is_better(self) -> bool:
        return self.metric == "accuracy"

    def drop_from(self, reference: Quality) -> float:
        """Quality lost against `reference`, in percent of it: accuracy fallen, or task loss risen (< 0: better)."""
        if reference.metric != self.metric:
            raise InputError(f"cannot compare {self.metric} with {reference.metric}")
        if reference.value == 0:
            return 0.0 if self.value == 0 else float("inf")
        change = (self.value - reference.value) / abs(reference.value) * 100
        return -change if self.higher_is_better else change

    def to_json(self) -> dict:
        return asdict(self)


class QualityScorer:
    """The test split of `task`, tokenised once; `measure(model)` gives a model's Quality on it."""

    def __init__(self, tokenizer, task: TextTask, objective: Objective, max_length: int,
                 batch_size: int = 32, test_examples: int | None = None) -> None:
        if objective not in QUALITY_METRIC:
            raise InputError(f"objective must be 'classify' or 'lm'; got {objective!r}")
        if objective == "classify" and len(task.labels) < 2:
            raise InputError(f"task {task.name}: no labels to classify (use objective 'lm' for unlabelled text)")
        self.task, self.objective, self.batch_size = task, objective, batch_size
        self.pad_id = int(tokenizer.pad_token_id)
        self.data = encode(tokenizer, task.test[:test_examples], max_length)
        if len(self.data) == 0:
            raise InputError(f"task {task.name}: no test examples")

    def measure(self, model: nn.Module, blocks: nn.ModuleList | None = None, start: int = 0,
                cache: HiddenCache | None = None) -> Quality:
        """Quality of `model` (a sequence classifier for classify, a causal LM for lm), in eval mode."""
        was_training = model.training
        model.eval()
        try:
            if self.objective == "classify":
                accuracy = ExampleRunner(model, self.data, self.pad_id, blocks, start, cache).accuracy(
                    self.batch_size)
                return Quality("accuracy", accuracy, accuracy, None, None, len(self.data), None)
            loss, tokens = TokenLossRunner(model, self.data, self.pad_id, blocks, start, cache).task_loss(
                self.batch_size)
            if tokens == 0:
                raise InputError(f"task {self.task.name}: the test texts hold no next-token target")
            return Quality("task_loss", loss, None, loss, perplexity(loss), len(self.data), tokens)
        finally:
            model.train(was_training)


def load_tuned(model_dir: Path, tuned: Path | None, objective: Objective, num_labels: int, pad_id: int) -> nn.Module:
    """The model whose quality `objective` measures: a sequence classifier or a causal LM, from a PEFT adapter
    on `model_dir` or a full checkpoint (None: the base); eval mode."""
    if objective == "lm":
        return load_tuned_lm(model_dir, tuned)
    return load_tuned_classifier(model_dir, tuned, num_labels, pad_id)
