"""A PEFT LoRA adapter read from its files alone: the modules it adapts, their factors, rank and scale."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import torch

from lorascope.errors import InputError
from lorascope.spectral.update import LowRankUpdate
from lorascope.weights.adapter_config import LoraSettings, read_lora_settings
from lorascope.weights.checkpoint import ADAPTER_WEIGHTS, existing_path, open_weights_file
from lorascope.weights.store import TensorStore

PEFT_PREFIX = "base_model.model."

_FACTOR = re.compile(
    r"^(?P<mod>.+)\.(?P<role>lora_A|lora_B|lora_embedding_A|lora_embedding_B|lora_magnitude_vector)"
    r"(?:\.(?P<adapter>[^.]+))??(?P<param>\.weight|\.bias)?$"
)
_TRAINABLE_TOKENS = re.compile(
    r"^(?P<mod>.+?)(?:\.token_adapter)?\.trainable_tokens_(?:delta|original)(?:\.[^.]+)?$"
)


@dataclass(frozen=True)
class LoraModule:
    """One adapted module: its factor keys in the adapter file and its resolved rank, alpha and scale.

    `kind` is "linear" (A (r, in), B (out, r), ΔW = s·B·A as (out, in)) or "embedding"
    (A (r, num_embeddings), B (dim, r), ΔW = s·(B·A)ᵀ as (num_embeddings, dim)): embedding tables are
    analysed in their stored (num_embeddings, dim) orientation, the one PEFT merges into, not as (out, in).
    """

    module: (
        str  # path inside the adapted model, without "base_model.model.", e.g. "model.layers.0.mlp.up_proj"
    )
    kind: Literal["linear", "embedding"]
    a_key: str
    b_key: str
    rank: int
    alpha: float
    scale: float
    shape: tuple[int, int]  # ΔW's shape in the analysed orientation
    magnitude_key: str | None = None  # DoRA
    bias_key: str | None = None  # lora_bias: a bias delta scale·b, reported but not a matrix
    saved_base_key: str | None = None  # a full copy of the module's base weight saved with the adapter


@dataclass(frozen=True)
class ReplacedTensor:
    """A whole tensor stored in the adapter (modules_to_save, saved tables): it replaces the base tensor."""

    name: str  # tensor name inside the adapted model, e.g. "classifier.weight"
    key: str  # key in the adapter file


@dataclass(frozen=True)
class LoraAdapter:
    """A checked LoRA adapter: settings, adapted modules, replaced tensors, notes on what is not a matrix."""

    path: Path
    settings: LoraSettings
    store: TensorStore
    modules: tuple[LoraModule, ...]
    replaced: tuple[ReplacedTensor, ...]
    notes: tuple[tuple[str, str], ...]  # (name inside the adapted model, why it is not analysed)
    warnings: tuple[str, ...]

    def update(self, module: LoraModule) -> LowRankUpdate:
        """ΔW of `module` as float32 factors in the analysed orientation (see LoraModule)."""
        a = self.store.get(module.a_key).float()
        b = self.store.get(module.b_key).float()
        if module.kind == "embedding":
            return LowRankUpdate(B=a.T.contiguous(), A=b.T.contiguous(), scale=module.scale)
        return LowRankUpdate(B=b, A=a, scale=module.scale)

    def magnitude(self, module: LoraModule) -> torch.Tensor:
        """The DoRA magnitude vector of `module` (float32)."""
        if module.magnitude_key is None:
            raise InputError(f"{self.path}: module {module.module!r} has no lora_magnitude_vector")
        return self.store.get(module.magnitude_key).float()


def _adapter_weights(folder: Path) -> Path:
    """adapter_model.safetensors, else the legacy pickled adapter_model.bin."""
    for name in ADAPTER_WEIGHTS:
        if (folder / name).is_file():
            return folder / name
    raise InputError(
        f"{folder}: no adapter_model.safetensors (or adapter_model.bin) beside adapter_config.json"
    )


def _strip_wrappers(key: str) -> str:
    """The tensor's name inside the adapted model: no PEFT prefix, base_layer or modules_to_save wrapper."""
    key = key.removeprefix(PEFT_PREFIX)
    key = re.sub(r"\.modules_to_save\.[^.]+\.", ".", key)
    return key.replace(".base_layer.", ".")


def _rank_error(
    settings: LoraSettings, mod: str, key: str, shape: tuple[int, ...], r: int, dim: int
) -> InputError:
    origin = "rank_pattern" if r != settings.r else "r"
    return InputError(
        f"{settings.path}: {origin} gives r={r} for module {mod!r}, "
        f"but {key!r} has shape {shape} (rank {shape[dim]})"
    )


def read_adapter(path: str | Path, *, allow_pickle: bool = False) -> LoraAdapter:
    """Read and check a PEFT LoRA adapter folder; bad config, stray tensor or wrong rank: InputError."""
    folder = existing_path(path, "adapter")
    if not folder.is_dir():
        raise InputError(f"adapter {folder}: expected a folder with adapter_config.json")
    settings = read_lora_settings(folder)
    store = open_weights_file(_adapter_weights(folder), allow_pickle=allow_pickle, config=settings.raw)
    return adapter_from_store(folder, settings, store)


def adapter_from_store(path: Path, settings: LoraSettings, store: TensorStore) -> LoraAdapter:
    """Check a LoRA adapter given as its settings and a store of its saved tensors (a folder's, or in memory)."""
    folder = path
    parts: dict[str, dict[str, str]] = {}
    full: dict[str, str] = {}
    notes: list[tuple[str, str]] = []
    adapter_names: set[str] = set()
    for key in store:
        bare = key.removeprefix(PEFT_PREFIX)
        match = _FACTOR.match(bare)
        if match:
            role, param = match["role"], match["param"] or ""
            if match["adapter"]:
                adapter_names.add(match["adapter"])
            mod = match["mod"].replace(".base_layer.", ".")
            roles = parts.setdefault(mod, {})
            if role + param in roles:
                raise InputError(
                    f"{store.root}: tensors {roles[role + param]!r} and {key!r} are the same factor"
                )
            roles[role + param] = key
            continue
        tokens = _TRAINABLE_TOKENS.match(bare)
        if tokens:
            notes.append(
                (
                    tokens["mod"] + ".weight",
                    "trainable_token_indices replaces rows of this table; not analysed",
                )
            )
            continue
        name = _strip_wrappers(key)
        if name in full:
            raise InputError(f"{store.root}: tensors {full[name]!r} and {key!r} both stand for {name!r}")
        full[name] = key
    if len(adapter_names) > 1:
        raise InputError(
            f"{store.root}: holds several adapters ({', '.join(sorted(adapter_names))}); save one per folder"
        )

    modules: list[LoraModule] = []
    for mod, roles in parts.items():
        module = _module(settings, store, mod, roles, notes)
        saved = full.pop(mod + ".weight", None)
        if module is None:
            continue
        if saved is not None:
            if store.shape(saved) not in (module.shape, module.shape[::-1]):
                raise InputError(
                    f"{store.root}: saved base weight {saved!r} has shape {store.shape(saved)}, "
                    f"but the LoRA factors of {mod!r} need {module.shape}"
                )
            module = replace(module, saved_base_key=saved)
        modules.append(module)

    replaced = [ReplacedTensor(name, key) for name, key in full.items()]
    return LoraAdapter(
        path=folder,
        settings=settings,
        store=store,
        modules=tuple(modules),
        replaced=tuple(replaced),
        notes=tuple(notes),
        warnings=tuple(settings.warnings()),
    )


def _module(
    settings: LoraSettings, store: TensorStore, mod: str, roles: dict[str, str], notes: list[tuple[str, str]]
) -> LoraModule | None:
    """Check one module's factors against each other and the config; None when it is not a 2-D adapter."""
    root = store.root
    if "lora_embedding_A" in roles or "lora_embedding_B" in roles:
        kind, a_role, b_role = "embedding", "lora_embedding_A", "lora_embedding_B"
    else:
        kind, a_role, b_role = "linear", "lora_A.weight", "lora_B.weight"
    for role in (a_role, b_role):
        if role not in roles:
            present = next(iter(roles.values()))
            raise InputError(f"{root}: {present!r} has no matching {role.split('.')[0]} for module {mod!r}")
    allowed = {a_role, b_role, "lora_magnitude_vector", "lora_magnitude_vector.weight"}
    if kind == "linear":
        allowed.add("lora_B.bias")
    unexpected = sorted(key for role, key in roles.items() if role not in allowed)
    if unexpected:
        raise InputError(f"{root}: unexpected LoRA tensor {unexpected[0]!r} for module {mod!r}")
    a_key, b_key = roles[a_role], roles[b_role]
    a_shape, b_shape = store.shape(a_key), store.shape(b_key)
    if len(a_shape) != 2 or len(b_shape) != 2:
        notes.append(
            (mod + ".weight", f"LoRA factors of {len(a_shape)}-D shape {a_shape} (conv layer): not a matrix")
        )
        return None
    r = settings.rank_of(mod)
    if a_shape[0] != r:
        raise _rank_error(settings, mod, a_key, a_shape, r, 0)
    if b_shape[1] != r:
        raise _rank_error(settings, mod, b_key, b_shape, r, 1)
    shape = (a_shape[1], b_shape[0]) if kind == "embedding" else (b_shape[0], a_shape[1])
    magnitude_key = roles.get("lora_magnitude_vector") or roles.get("lora_magnitude_vector.weight")
    if magnitude_key is not None and not settings.use_dora:
        raise InputError(
            f"{root}: {magnitude_key!r} is a DoRA magnitude but adapter_config.json has use_dora=false"
        )
    if magnitude_key is None and settings.use_dora:
        raise InputError(f"{root}: use_dora=true but module {mod!r} has no lora_magnitude_vector")
    if magnitude_key is not None:
        expected = (shape[1],) if kind == "embedding" else (shape[0],)
        if store.shape(magnitude_key) != expected:
            raise InputError(
                f"{root}: {magnitude_key!r} has shape {store.shape(magnitude_key)}, expected {expected}"
            )
    bias_key = roles.get("lora_B.bias")
    if bias_key is not None:
        notes.append(
            (mod + ".bias", f"lora_B.bias {bias_key!r}: a bias change (scale·b), not a matrix; not analysed")
        )
    return LoraModule(
        module=mod,
        kind=kind,
        a_key=a_key,
        b_key=b_key,
        rank=r,
        alpha=settings.alpha_of(mod),
        scale=settings.scale_of(mod),
        shape=shape,
        magnitude_key=magnitude_key,
        bias_key=bias_key,
    )
