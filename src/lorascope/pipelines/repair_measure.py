"""`repair`'s measurements: the adapter merged into its base in memory, rescaled per λ, scored on the user's data.

The model is loaded once (PEFT merges the adapter: W0 + ΔW in every adapted matrix); a λ is applied by
setting each changed matrix to W_tuned + Σ_j (λ − 1)·σ_j·u_j·v_jᵀ (the change `scale` writes as extra
rank), and λ = 1 puts the saved W_tuned back bit for bit. Nothing is written to disk per λ.

Blocks below the lowest rescaled matrix are the same at every λ, so once the matrices are bound their
output (the hidden state entering that block) is computed once for the validation texts and the forget
text and kept in memory (tokens × hidden × 4 bytes); each λ then runs only the blocks from there up and
the head, as `train --train-layers top:N` evaluates (training/bottom.py).

Quality is measured as `train` measures it (pipelines/quality.py): accuracy of a classification adapter
(PEFT task_type SEQ_CLS) on the validation rows, or the held-out task loss of a causal-LM adapter on the
validation texts. Forgetting is as `forget` measures it (pipelines/forget.py, rolling windows per
document by default): LM loss on the forget text minus the base model's; a classifier's backbone is
scored under the base model's LM head.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from lorascope.datafiles import DataSpec, load_data_task, read_documents
from lorascope.errors import InputError
from lorascope.pipelines.forget import ForgetOptions, forget_text
from lorascope.pipelines.quality import QualityScorer
from lorascope.training.bottom import HiddenCache, compute_hidden
from lorascope.training.lm import context_length
from lorascope.training.modeling import (
    attach_backbone,
    find_blocks,
    lm_kind,
    load_lm,
    load_tokenizer,
    quiet_transformers,
    unwrap,
)
from lorascope.training.tuned import load_tuned_classifier, load_tuned_lm
from lorascope.weights.name_map import find_prefix_map

Objective = Literal["classify", "lm"]


@dataclass(frozen=True)
class Measurement:
    """Task quality and forgetting of one model (one λ)."""

    quality: float  # accuracy (classify) or task loss in nats/token (lm)
    forget_loss: float  # LM loss on the forget text, nats/token
    forgetting: float  # forget_loss minus the base model's


@dataclass(frozen=True)
class TextSettings:
    """How validation and forget text are read, cut and scored (the repair options that matter here)."""

    text_column: str = "text"
    label_column: str = "label"
    max_length: int = 128
    batch_size: int = 8
    forget: ForgetOptions = ForgetOptions()


def adapter_objective(adapter_dir: Path) -> Objective:
    """'classify' for a PEFT SEQ_CLS adapter, 'lm' for a causal-LM one; InputError otherwise."""
    path = Path(adapter_dir) / "adapter_config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read the adapter config ({e})") from e
    task = config.get("task_type")
    if task == "SEQ_CLS":
        return "classify"
    if task in ("CAUSAL_LM", None):
        return "lm"
    raise InputError(f"{path}: task_type {task!r}: repair measures SEQ_CLS (accuracy) or CAUSAL_LM (task loss) "
                     "adapters")


def validation_task(data: Path, objective: Objective, settings: TextSettings):
    """Every row of the validation file as the test split (labels in sorted order, as `train` indexes them)."""
    spec = DataSpec(train=str(data), test=str(data), text_column=settings.text_column,
                    label_column=settings.label_column)
    return load_data_task(spec, objective)


def check_inputs(data: Path, forget: Path | None, objective: Objective, settings: TextSettings) -> None:
    """Read the validation data and the forget text once, so bad files fail before any analysis."""
    validation_task(data, objective, settings)
    if forget is not None:
        read_documents(forget, settings.forget.text_column)


def _head_labels(adapter_dir: Path) -> int:
    """Number of classes of the task head saved in a SEQ_CLS adapter."""
    from lorascope.pipelines.forget import _head_labels as labels_of

    n = labels_of(Path(adapter_dir))
    if n is None:
        raise InputError(f"{adapter_dir}: a SEQ_CLS adapter without a saved task head (score / classifier)")
    return n


def _merged(model: nn.Module) -> nn.Module:
    """A PeftModel's own merge (W0 + ΔW, modules_to_save in place), eval mode, frozen."""
    with quiet_transformers():
        merged = model.merge_and_unload()
    merged.eval()
    for p in merged.parameters():
        p.requires_grad_(False)
    return merged


@dataclass(frozen=True)
class _Bound:
    """One analysed matrix in the loaded model: its parameter, W_tuned as loaded, and its storage orientation."""

    param: torch.Tensor
    original: torch.Tensor
    transposed: bool
    model_name: str  # the parameter's name in the loaded model


class RepairBench:
    """The base model with the adapter merged, held in memory: set a λ, then measure quality and forgetting."""

    def __init__(self, base_dir: Path, adapter_dir: Path, data: Path, forget: Path | None,
                 settings: TextSettings) -> None:
        from transformers import AutoConfig

        self.settings = settings
        self.objective = adapter_objective(adapter_dir)
        if not (base_dir / "config.json").is_file():
            raise InputError(f"{base_dir}: repair needs BASE as a model folder with config.json and a tokenizer")
        if lm_kind(base_dir) != "causal":
            raise InputError(f"{base_dir}: repair needs a causal-LM base (its LM head scores forgetting); "
                             "config.json lists no ...ForCausalLM architecture")
        try:
            self.tokenizer = load_tokenizer(base_dir)
        except (OSError, ValueError, TypeError) as e:
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
            raise InputError(f"{base_dir}: no tokenizer transformers can load ({first}); repair tokenizes --data "
                             "and the forget text with BASE's tokenizer") from None
        with quiet_transformers():
            window = context_length(AutoConfig.from_pretrained(base_dir))
        self.forget = forget_text(self.tokenizer, "causal", forget, settings.forget, window)
        task = validation_task(data, self.objective, settings)
        self.scorer = QualityScorer(self.tokenizer, task, self.objective, settings.max_length, settings.batch_size)
        base_lm = load_lm(base_dir, "causal")
        self.base_forget_loss = self.forget.score(base_lm).loss
        self.base_quality: float | None = None
        pad = int(self.tokenizer.pad_token_id)
        if self.objective == "classify":
            labels = _head_labels(adapter_dir)
            if len(task.labels) != labels:
                raise InputError(f"{data}: column {settings.label_column!r} holds {len(task.labels)} classes "
                                 f"({', '.join(task.labels)}) but the adapter's head has {labels}; every class must "
                                 "occur, as labels are indexed in sorted order (as `train` does)")
            self.model = _merged(load_tuned_classifier(base_dir, adapter_dir, labels, pad))
            self.lm = attach_backbone(base_lm, self.model)  # base LM head on the tuned (shared) backbone
        else:
            self.base_quality = self.scorer.measure(base_lm).value
            del base_lm
            self.model = _merged(load_tuned_lm(base_dir, adapter_dir))
            self.lm = self.model
        self.params = dict(unwrap(self.model).named_parameters(remove_duplicate=False))
        self.bound: dict[str, _Bound] = {}
        self.blocks_prefix, self.blocks = find_blocks(unwrap(self.model))
        self.start = 0  # blocks [0, start) hold no bound matrix: their output is cached below
        self.quality_cache: HiddenCache | None = None
        self.forget_cache: HiddenCache | None = None

    @property
    def higher_is_better(self) -> bool:
        return self.objective == "classify"

    @property
    def quality_name(self) -> str:
        return "accuracy" if self.objective == "classify" else "task_loss"

    @property
    def forget_source(self) -> str:
        return self.forget.source

    def bind(self, names: Sequence[str]) -> None:
        """Find each analysed matrix (BASE tensor name) among the model's parameters and keep its W_tuned."""
        model_names = set(self.params)
        modules = dict(unwrap(self.model).named_modules())
        mapper = find_prefix_map(model_names, list(names))
        for name in names:
            found = mapper(name, model_names)
            if found is None:
                raise InputError(f"{name}: no such parameter in the loaded model ({mapper.guess(name)})")
            transposed = type(modules.get(found.rsplit(".", 1)[0])).__name__ == "Conv1D"  # GPT-2: (in, out)
            param = self.params[found]
            self.bound[name] = _Bound(param, param.detach().clone(), transposed, found)
        self._cache_bottom()

    def first_bound_block(self) -> int:
        """Index of the lowest block holding a bound matrix; 0 when one lies outside the blocks (embedding, head)."""
        pattern = re.compile(rf"^{re.escape(self.blocks_prefix)}\.(\d+)\.")
        found = [pattern.match(b.model_name) for b in self.bound.values()]
        return min((int(m.group(1)) for m in found if m), default=0) if all(found) else 0

    @torch.no_grad()
    def _cache_bottom(self) -> None:
        """The output of the blocks below the first bound one, for the validation and forget texts (once)."""
        start = self.first_bound_block()
        lm_blocks = find_blocks(unwrap(self.lm))[1]
        if start == 0 or lm_blocks is not self.blocks or self.forget.chunks is None:
            self.start, self.quality_cache, self.forget_cache = 0, None, None
            return
        for b in self.bound.values():  # the bottom is computed with W_tuned, as every λ leaves it
            b.param.copy_(b.original)
        pad, size = self.scorer.pad_id, self.settings.batch_size
        self.quality_cache = compute_hidden(lambda ids, mask: self.model(input_ids=ids, attention_mask=mask),
                                            self.blocks, start, self.scorer.data.ids, pad, size)
        self.forget_cache = compute_hidden(lambda ids, mask: self.lm(input_ids=ids, attention_mask=mask),
                                           self.blocks, start, self.forget.chunks.model_inputs, pad, size)
        self.start = start

    @torch.no_grad()
    def set_change(self, changes: dict[str, torch.Tensor | None]) -> None:
        """W := W_tuned + change for every named matrix (analysed orientation, float64); None restores W_tuned."""
        for name, change in changes.items():
            b = self.bound[name]
            if change is None:
                b.param.copy_(b.original)
                continue
            delta = change.T if b.transposed else change
            b.param.copy_((b.original.to(torch.float64) + delta).to(b.param.dtype))

    @torch.no_grad()
    def measure(self) -> Measurement:
        """Quality and forgetting of the model as it is now."""
        if self.start:
            quality = self.scorer.measure(self.model, self.blocks, self.start, self.quality_cache).value
            loss = self.forget.score(self.lm, self.blocks, self.start, self.forget_cache).loss
        else:
            quality = self.scorer.measure(self.model).value
            loss = self.forget.score(self.lm).loss
        if not (math.isfinite(quality) and math.isfinite(loss)):
            raise InputError("a measurement is not finite (empty validation or forget text after tokenising?)")
        return Measurement(quality, loss, loss - self.base_forget_loss)
