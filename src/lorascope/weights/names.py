"""Which tensor names are analysed by default: linear-layer weights, not embedding tables or output heads."""

from __future__ import annotations

import re

import torch

from lorascope.weights.store import TensorInfo

# Module names of embedding tables and of output/task heads in transformers models. The paper analyses "all
# linear layers besides the embedding matrix" of the backbone; heads are new or task-specific, so they are
# left out by default too (RoBERTa-base: 12 layers x 6 matrices = 72).
EMBEDDING_MODULES = (
    "embed_tokens",
    "wte",
    "wpe",
    "word_embeddings",
    "position_embeddings",
    "token_type_embeddings",
    "shared",
    "embed_positions",
    "embed_in",
    "tok_embeddings",
    "relative_attention_bias",
    "position_embedding",
    "token_embedding",
)
HEAD_MODULES = ("lm_head", "score", "classifier", "pooler", "qa_outputs", "cls", "embed_out")

_EMBEDDING = re.compile(r"(^|\.)(" + "|".join(map(re.escape, EMBEDDING_MODULES)) + r")(\.|$)")
_HEAD = re.compile(r"(^|\.)(" + "|".join(map(re.escape, HEAD_MODULES)) + r")(\.|$)")


def is_embedding(name: str) -> bool:
    """Whether `name` lies in an embedding table (word, position, token-type, shared, relative-position)."""
    return bool(_EMBEDDING.search(name))


def is_head(name: str) -> bool:
    """Whether `name` lies in an output or task head (lm_head, classifier, score, pooler, qa_outputs, …)."""
    return bool(_HEAD.search(name))


def is_matrix(info: TensorInfo) -> bool:
    """Whether a tensor is a candidate weight matrix: a 2-D floating-point `*.weight`."""
    return info.name.endswith(".weight") and len(info.shape) == 2 and info.dtype.is_floating_point


def not_a_matrix_reason(info: TensorInfo) -> str | None:
    """Why a weight-like tensor cannot be analysed (integer dtype, 3-D experts or kernels), else None."""
    if not info.dtype.is_floating_point and info.dtype != torch.bool and len(info.shape) >= 2:
        if info.name.endswith(".weight"):
            return f"{info.dtype} dtype (quantized?): not a float matrix"
        return None
    if len(info.shape) >= 3 and info.dtype.is_floating_point:
        return f"{len(info.shape)}-D tensor {info.shape} (fused experts or a conv kernel): not a 2-D matrix"
    return None


def normalize_tuned_name(name: str) -> str:
    """A tuned tensor name in plain model form: no PEFT wrapper prefix, base_layer or modules_to_save."""
    name = name.removeprefix("base_model.model.")
    name = re.sub(r"\.modules_to_save\.[^.]+\.", ".", name)
    return name.replace(".base_layer.", ".")
