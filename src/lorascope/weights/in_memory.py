"""Weights already in memory (a state dict, an `nn.Module`, a PEFT `PeftModel`) as the stores a scan reads.

Nothing is written: each tensor is copied to the CPU only when the scan reaches it, exactly as a file's
tensor would be read. The stores behave like the ones `open_checkpoint` and `read_adapter` build from files,
so a scan of a model in memory and of the same model saved with `save_pretrained` give the same numbers:

- a state dict (name -> tensor) is a checkpoint, named as given;
- an `nn.Module` is its `state_dict()`, less the names that share storage with an earlier one (tied
  embeddings: `save_pretrained` drops them too), with the model's `config` when it has one (GPT-2's
  Conv1D layout is recognised from it);
- a `PeftModel` as TUNED is its active LoRA adapter: PEFT's own `get_peft_model_state_dict` (the tensors
  `save_pretrained` writes, without the optional full embedding copies) and its `LoraConfig`;
- a model into which PEFT injected LoRA layers (a `PeftModel`, or the model `get_peft_model` wrapped in
  place) as BASE is its frozen base weights: `.base_layer.` names unwrapped, LoRA factors left out; a
  layer whose adapter is merged into its base weight is an InputError (unmerge it first).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from lorascope.errors import InputError
from lorascope.weights.adapter import PEFT_PREFIX, LoraAdapter, adapter_from_store
from lorascope.weights.adapter_config import parse_lora_settings
from lorascope.weights.store import TensorInfo, TensorStore

InMemory = Mapping[str, torch.Tensor] | nn.Module
Source = str | Path | TensorStore | LoraAdapter

_ADAPTER_PART = re.compile(r"\.(lora_[A-Za-z_]+|trainable_tokens_[a-z]+)(\.|$)")  # PEFT's own tensors
_SAVED_COPY = re.compile(r"\.modules_to_save\.[^.]+\.")


def is_in_memory(obj: object) -> bool:
    """Whether `obj` is a model or state dict rather than a path."""
    return isinstance(obj, (nn.Module, Mapping))


def _peft_model(obj: object) -> bool:
    """Whether `obj` is a PEFT PeftModel (peft is imported only by whoever made one)."""
    peft = sys.modules.get("peft")
    return peft is not None and isinstance(obj, peft.PeftModel)


def _reader(tensors: Mapping[str, torch.Tensor]):
    def read(info: TensorInfo) -> torch.Tensor:
        # a private CPU copy, as reading a file gives: nothing downstream can alias or change the caller's tensor
        return tensors[info.name].detach().to("cpu", copy=True)

    return read


def state_store(tensors: Mapping[str, Any], label: str, config: dict[str, Any] | None = None) -> TensorStore:
    """A TensorStore over `tensors` (name -> tensor), named `label` in messages; a non-tensor is an InputError.

    Names are listed in sorted order, as a safetensors file lists them, so matrices come in the order a
    scan of the saved model gives.
    """
    infos: dict[str, TensorInfo] = {}
    where = Path(label)
    for name in tensors:
        if not isinstance(name, str):
            raise InputError(f"{label}: key {name!r} is not a tensor name (str)")
    for name in sorted(tensors):
        tensor = tensors[name]
        if not isinstance(tensor, torch.Tensor):
            raise InputError(f"{label}: {name!r} is a {type(tensor).__name__}, not a tensor")
        if tensor.device.type == "meta" or tensor.is_sparse:
            kind = "on the meta device (offloaded or not loaded)" if tensor.device.type == "meta" else "sparse"
            raise InputError(f"{label}: tensor {name!r} is {kind}; load the weights densely first")
        infos[name] = TensorInfo(name, where, tensor.dtype, tuple(tensor.shape))
    return TensorStore(where, infos, config, _reader(dict(tensors)))


def _config_of(model: nn.Module) -> dict[str, Any] | None:
    config = getattr(model, "config", None)
    to_dict = getattr(config, "to_dict", None)
    return to_dict() if callable(to_dict) else None


def _untied(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`state` without names whose tensor shares storage, offset, shape and strides with an earlier one."""
    seen: set[tuple] = set()
    kept: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        if isinstance(tensor, torch.Tensor) and tensor.device.type != "meta" and not tensor.is_sparse:
            ident = (tensor.device, tensor.untyped_storage().data_ptr(), tensor.storage_offset(),
                     tuple(tensor.shape), tensor.stride())
            if ident in seen:
                continue
            seen.add(ident)
        kept[name] = tensor
    return kept


def _check_unmerged(model: nn.Module, label: str) -> None:
    for name, module in model.named_modules():
        if getattr(module, "merged_adapters", None):
            raise InputError(f"{label}: the LoRA adapter of {name!r} is merged into its base weight, so the "
                             "base weights are not in memory; call unmerge_adapter() first, or pass BASE itself")


def _base_weights(model: nn.Module, label: str) -> dict[str, torch.Tensor]:
    """The frozen base weights of a model with PEFT-injected LoRA layers, named as in the bare model."""
    _check_unmerged(model, label)
    out: dict[str, torch.Tensor] = {}
    for key, tensor in _untied(model.state_dict()).items():
        if _ADAPTER_PART.search(key) or _SAVED_COPY.search(key):
            continue  # LoRA factors, trainable tokens, modules_to_save's trainable copies (originals are kept)
        name = key.removeprefix(PEFT_PREFIX).replace(".base_layer.", ".").replace(".original_module.", ".")
        if name in out:
            raise InputError(f"{label}: two tensors stand for {name!r} once PEFT's wrappers are removed")
        out[name] = tensor
    return out


def _has_lora_layers(model: nn.Module) -> bool:
    return any(_ADAPTER_PART.search(key) for key in model.state_dict())


def _json_ready(value: Any) -> Any:
    """A PEFT config value as `save_pretrained` writes it to adapter_config.json (sets become lists)."""
    return json.loads(json.dumps(value, default=lambda v: sorted(v) if isinstance(v, (set, frozenset)) else str(v)))


def peft_adapter(model: nn.Module, label: str) -> LoraAdapter:
    """The active LoRA adapter of a PeftModel, checked like an adapter folder with the same tensors and config."""
    from peft import get_peft_model_state_dict  # a PeftModel exists, so peft is installed

    name = model.active_adapter
    if not isinstance(name, str):
        raise InputError(f"{label}: several adapters are active ({name!r}); activate one with set_adapter()")
    raw = _json_ready(model.peft_config[name].to_dict())
    where = Path(label)
    settings = parse_lora_settings(raw, where)
    tensors = get_peft_model_state_dict(model, adapter_name=name, save_embedding_layers=False)
    return adapter_from_store(where, settings, state_store(tensors, label, raw))


def _label(obj: object, role: str) -> str:
    if _peft_model(obj):
        return f"<in-memory {role} PeftModel, adapter {obj.active_adapter!r}>"
    if isinstance(obj, nn.Module):
        return f"<in-memory {role} {type(obj).__name__}>"
    return f"<in-memory {role} state dict>"


def open_source(obj: object, role: str) -> Source:
    """`obj` (BASE or TUNED) as `plan_pairs` takes it: a path as given; a model or state dict as a store.

    TUNED: a PeftModel is its adapter, any other model or state dict a checkpoint. BASE: a model with
    injected LoRA layers is its base weights. Anything else (not a path, model or mapping) is an InputError.
    """
    if isinstance(obj, (str, Path)):
        return obj
    if not is_in_memory(obj):
        raise InputError(f"{role}: expected a path, an nn.Module, a PeftModel or a state dict; "
                         f"got {type(obj).__name__}")
    label = _label(obj, role)
    if role == "TUNED" and _peft_model(obj):
        return peft_adapter(obj, label)
    if isinstance(obj, nn.Module):
        if role == "BASE" and (_peft_model(obj) or _has_lora_layers(obj)):
            return state_store(_base_weights(obj, label), label, _config_of(obj))
        return state_store(_untied(obj.state_dict()), label, _config_of(obj))
    return state_store(obj, label)


def open_pair(base: object | None, tuned: object) -> tuple[Source, Source]:
    """BASE and TUNED when one of them is in memory; a path among them is resolved as usual (local or Hub id).

    With no BASE, a PeftModel TUNED is both: its frozen base weights and its adapter.
    """
    from lorascope.weights.source import resolve_source

    if base is None:
        if not _peft_model(tuned):
            raise InputError("no BASE given: only a PeftModel (or an adapter folder) carries its base; pass BASE")
        base = tuned

    def opened(obj: object, role: str) -> Source:
        return resolve_source(obj, role) if isinstance(obj, (str, Path)) else open_source(obj, role)

    return opened(base, "BASE"), opened(tuned, "TUNED")


def source_name(source: Source) -> str | Path:
    """How a source is named in results and messages: the path as given, or the in-memory label."""
    if isinstance(source, TensorStore):
        return str(source.root)
    if isinstance(source, LoraAdapter):
        return str(source.path)
    return source
