"""Build the classifier to train: which matrices train (LoRA or full), which blocks, which head.

The paper's recipe: every linear matrix inside the transformer blocks (attention and MLP) is adapted
or fine-tuned; embeddings, norms and biases stay frozen; the task head (`score` / `classifier`) is
always trained densely. With `top` set, only the matrices of the top `top` blocks train.
"""

from __future__ import annotations

import contextlib
import functools
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from lorascope.errors import InputError

HEAD_NAMES = ("score", "classifier")
_WRAPPERS = ("base_model.model.",)


@dataclass
class Classifier:
    """A sequence classifier ready to train, and where its parts are."""

    model: nn.Module  # the (PEFT-wrapped, for LoRA) sequence classifier
    tokenizer: object
    blocks: nn.ModuleList  # the transformer blocks, bottom first
    first_trained: int  # index of the lowest block that trains
    matrices: list[str]  # module names (in the unwrapped classifier) of the trained matrices
    head: list[str]  # module names of the task head
    pad_id: int

    def train_mode(self) -> None:
        """Training mode for what trains; the frozen bottom (embeddings, blocks below the first trained
        one) keeps eval mode, so it runs without dropout, as its cached output was computed."""
        self.model.train()
        if self.first_trained == 0:
            return
        prefix, _ = find_blocks(self.model)
        frozen = tuple(f"{prefix}.{i}." for i in range(self.first_trained))
        for name, module in self.model.named_modules():
            name = clean_name(name)
            if name.startswith(frozen) or ".embeddings." in f".{name}.":
                module.eval()

    @property
    def trainable(self) -> list[tuple[str, nn.Parameter]]:
        """The parameters the optimiser updates, in a fixed order."""
        return [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]

    def unwrapped(self) -> nn.Module:
        """The transformers model inside any PEFT wrapper."""
        return unwrap(self.model)


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' warnings and progress bars (library code prints nothing)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


def unwrap(model: nn.Module) -> nn.Module:
    """The transformers model inside a PeftModel (or the model itself)."""
    inner = getattr(model, "base_model", None)
    if inner is not None and hasattr(inner, "model") and type(model).__module__.startswith("peft"):
        return inner.model
    return model


def clean_name(name: str) -> str:
    """A module name without PEFT's wrapper prefixes."""
    for prefix in _WRAPPERS:
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name


def find_blocks(model: nn.Module) -> tuple[str, nn.ModuleList]:
    """The ModuleList of transformer blocks (the one with `num_hidden_layers` entries)."""
    config = getattr(unwrap(model), "config", None)
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    n = getattr(text_config, "num_hidden_layers", None) or getattr(text_config, "n_layer", None)
    found = [(clean_name(name), mod) for name, mod in model.named_modules()
             if isinstance(mod, nn.ModuleList) and len(mod) == n and n]
    if not found:
        raise InputError(f"{type(unwrap(model)).__name__}: no list of {n} transformer blocks found")
    return found[0]


def is_matrix_module(module: nn.Module) -> bool:
    """An nn.Linear, a GPT-2 Conv1D, or a PEFT LoRA layer wrapping one."""
    if hasattr(module, "base_layer") and hasattr(module, "lora_A"):
        return True
    return isinstance(module, nn.Linear) or type(module).__name__ == "Conv1D"


def block_matrices(model: nn.Module, first: int = 0) -> list[str]:
    """Names of every linear matrix inside blocks first.. (attention and MLP), in model order."""
    prefix, blocks = find_blocks(model)
    keep = tuple(f"{prefix}.{i}." for i in range(first, len(blocks)))
    names = []
    for name, module in model.named_modules():
        name = clean_name(name)
        if name.startswith(keep) and is_matrix_module(module) and not _inside_lora(name):
            names.append(name)
    return names


def _inside_lora(name: str) -> bool:
    parts = name.split(".")
    return any(p in ("base_layer", "lora_A", "lora_B", "lora_embedding_A", "lora_embedding_B") for p in parts)


def head_modules(model: nn.Module) -> list[str]:
    """The task head's module names (`score` for decoder classifiers, `classifier` for encoders)."""
    return [name for name, _ in unwrap(model).named_children() if name in HEAD_NAMES]


def load_tokenizer(model_dir: Path):
    """The model's tokenizer, with a pad token (its EOS when it has none).

    Kept per thread while the folder's tokenizer files stay the same: Gemma's 262k-token vocabulary takes
    seconds to load, and a recipe's runs load it dozens of times. Callers read it and never change it.
    """
    from lorascope.cache import file_stamps

    model_dir = Path(model_dir)
    try:  # every file a tokenizer could read: all but weights and lorascope's own markers
        files = file_stamps(model_dir, lambda path: not path.name.endswith(_NOT_READ)
                            and not path.name.startswith("lorascope-"))
    except OSError:  # not a folder: the loader's own error
        return _load_tokenizer(str(model_dir), (), 0)
    return _load_tokenizer(str(model_dir.resolve()), files, threading.get_ident())


_NOT_READ = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".ckpt", ".lock")


@functools.lru_cache(maxsize=4)
def _load_tokenizer(model_dir: str, files: tuple, thread: int):
    from transformers import AutoTokenizer

    with quiet_transformers():
        tok = AutoTokenizer.from_pretrained(model_dir)
    if tok.pad_token_id is None:
        if tok.eos_token_id is None:
            raise InputError(f"{model_dir}: the tokenizer has neither a pad nor an EOS token")
        tok.pad_token = tok.eos_token
    return tok


def set_trainable(model: nn.Module, model_dir: Path, method: Literal["lora", "full"], rank: int,
                  alpha: float | None, top: int | None, seed: int, freeze_a: bool, task_type: str,
                  dense: Sequence[str] = ()) -> tuple[nn.Module, int, list[str]]:
    """Freeze `model`, then make the linear matrices of its top `top` blocks (all when None) train: as a PEFT
    LoRA of `task_type` (α = 2r unless given) or in full; the modules named in `dense` train in full either way
    (PEFT's task type saves them). Returns the (possibly wrapped) model, the first trained block and the matrices.
    """
    _, blocks = find_blocks(model)
    if top is not None and top > len(blocks):
        raise InputError(f"train_layers top:{top}: {model_dir} has only {len(blocks)} blocks")
    first = 0 if top is None else len(blocks) - top
    matrices = block_matrices(model, first)
    if not matrices:
        raise InputError(f"{model_dir}: no linear matrix found in its transformer blocks")
    for p in model.parameters():
        p.requires_grad_(False)
    if method == "lora":
        from peft import LoraConfig, get_peft_model

        config = LoraConfig(r=rank, lora_alpha=alpha if alpha is not None else 2 * rank,
                            target_modules=matrices, task_type=task_type)
        with quiet_transformers():
            model = get_peft_model(model, config)
        if freeze_a:
            _freeze_semi_orthogonal_a(model, seed)
    else:
        modules = dict(model.named_modules())
        for name in matrices:
            modules[name].weight.requires_grad_(True)
        for name in dense:
            for p in modules[name].parameters():
                p.requires_grad_(True)
    return model, first, matrices


def build_classifier(model_dir: Path, num_labels: int, method: Literal["lora", "full"], rank: int,
                     alpha: float | None, top: int | None, seed: int, freeze_a: bool = False) -> Classifier:
    """Load `model_dir` as a sequence classifier with a fresh head and set up what trains.

    `freeze_a` (LoRA, the paper's Fig. 10): every lora_A starts as a random semi-orthogonal matrix (orthonormal
    rows, all singular values 1, seeded) and stays frozen; only lora_B and the head train.
    """
    from transformers import AutoModelForSequenceClassification

    tok = load_tokenizer(model_dir)
    torch.manual_seed(seed)
    with quiet_transformers():
        model = AutoModelForSequenceClassification.from_pretrained(
            model_dir, num_labels=num_labels, dtype=torch.float32, pad_token_id=tok.pad_token_id)
    model.config.pad_token_id = tok.pad_token_id
    head = head_modules(model)
    if not head:
        raise InputError(f"{type(model).__name__}: no classification head ({' or '.join(HEAD_NAMES)}) found")
    # task_type SEQ_CLS makes PEFT train and save the head (`score` / `classifier`) densely.
    model, first, matrices = set_trainable(model, model_dir, method, rank, alpha, top, seed, freeze_a,
                                           task_type="SEQ_CLS", dense=head)
    _, blocks = find_blocks(model)
    return Classifier(model, tok, blocks, first, matrices, head, int(tok.pad_token_id))


def _freeze_semi_orthogonal_a(model: nn.Module, seed: int) -> None:
    """Every lora_A weight := a random semi-orthogonal matrix (seeded, in module order), then frozen."""
    generator = torch.Generator().manual_seed(seed)
    for _, module in sorted(model.named_modules(), key=lambda item: item[0]):
        lora_a = getattr(module, "lora_A", None)
        if not isinstance(lora_a, nn.ModuleDict):
            continue
        for layer in lora_a.values():
            r, n = layer.weight.shape
            if r > n:
                raise InputError(f"freeze_a: rank {r} exceeds the input dimension {n}; A cannot have orthonormal rows")
            q, _ = torch.linalg.qr(torch.randn(n, r, generator=generator, dtype=torch.float64))
            with torch.no_grad():
                layer.weight.copy_(q.T.to(layer.weight.dtype))
            layer.weight.requires_grad_(False)


def lm_kind(model_dir: Path) -> Literal["causal", "masked"] | None:
    """Whether the checkpoint in `model_dir` carries a causal-LM head, a masked-LM head, or neither."""
    import json

    config = json.loads((Path(model_dir) / "config.json").read_text())
    archs = config.get("architectures") or []
    if any(a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration")) for a in archs):
        return "causal"
    if any(a.endswith("ForMaskedLM") for a in archs):
        return "masked"
    return None


def load_lm(model_dir: Path, kind: Literal["causal", "masked"]) -> nn.Module:
    """The pretrained LM (with its head) of `model_dir`, in eval mode, frozen."""
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    cls = AutoModelForCausalLM if kind == "causal" else AutoModelForMaskedLM
    with quiet_transformers():
        model = cls.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def attach_backbone(lm: nn.Module, classifier: nn.Module) -> nn.Module:
    """`lm` with its backbone replaced by the classifier's (shared, not copied): the base LM head on top."""
    inner = unwrap(classifier)
    prefix = lm.base_model_prefix
    if getattr(inner, "base_model_prefix", None) != prefix or not hasattr(inner, prefix):
        raise InputError(f"cannot put the LM head of {type(lm).__name__} on {type(inner).__name__}")
    setattr(lm, prefix, getattr(inner, prefix))
    return lm
