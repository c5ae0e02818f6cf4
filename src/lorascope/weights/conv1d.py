"""GPT-2-style `Conv1D` layers store their weight as (in, out); lorascope analyses matrices as (out, in)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Model types whose transformers implementation builds these modules from `pytorch_utils.Conv1D`.
CONV1D_MODEL_TYPES = frozenset(
    {"gpt2", "openai-gpt", "imagegpt", "decision_transformer", "clvp", "clvp_decoder"}
)
CONV1D_MODULES = frozenset({"c_attn", "c_proj", "c_fc", "q_attn"})


def model_type(config: Mapping[str, Any] | None) -> str | None:
    """The `model_type` of a config.json dict, if it says one."""
    value = config.get("model_type") if config else None
    return value if isinstance(value, str) else None


def uses_conv1d(config: Mapping[str, Any] | None) -> bool:
    """Whether the model family of this config.json builds its projections from transposed Conv1D layers."""
    return model_type(config) in CONV1D_MODEL_TYPES


def is_conv1d_module(module: str) -> bool:
    """Whether a module path ends in one of the Conv1D module names (`…attn.c_attn`, `…mlp.c_fc`, …)."""
    return module.rsplit(".", 1)[-1] in CONV1D_MODULES


def stored_transposed(weight_name: str, config: Mapping[str, Any] | None) -> bool:
    """Whether the 2-D tensor `weight_name` is stored (in, out) and must be transposed to (out, in)."""
    return (
        weight_name.endswith(".weight")
        and uses_conv1d(config)
        and is_conv1d_module(weight_name[: -len(".weight")])
    )
