"""adapter_config.json of a LoRA adapter: defaults, checks, per-module rank, alpha, scale as PEFT."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lorascope.errors import InputError
from lorascope.weights.json_file import read_json_object

# LoraConfig's dataclass defaults (peft 0.21) for the keys that change how ΔW is formed.
DEFAULT_R = 8
DEFAULT_ALPHA = 8

# init_lora_weights values whose adapter is relative to a base that PEFT rewrote at initialisation.
MUTATING_INITS = ("pissa", "olora", "corda", "lora_ga", "loftq")

# Config keys for LoRA variants whose saved tensors do not merge as W0 + s·B·A (or that change the base).
_UNSUPPORTED: dict[str, str] = {
    "target_parameters": "LoRA on raw nn.Parameters (fused MoE experts) uses a per-expert layout",
    "use_qalora": "QA-LoRA's A acts on group-pooled inputs",
    "use_bdlora": "BD-LoRA stores block-diagonal factors",
    "arrow_config": "Arrow routes between several adapters per token",
    "kasa_config": "KaSA truncates the base weight and adds a diagonal",
    "velora_config": "VeLoRA changes the update",
    "monteclora_config": "MonteCLoRA keeps extra sampling tensors",
    "alora_invocation_tokens": "activated LoRA only applies after its invocation tokens and cannot be merged",
    "layer_replication": "layer replication points adapter keys at copies of base layers",
}


@dataclass(frozen=True)
class LoraSettings:
    """The parts of adapter_config.json that decide ΔW, with LoraConfig defaults filled in."""

    path: Path
    r: int = DEFAULT_R
    lora_alpha: float = DEFAULT_ALPHA
    use_rslora: bool = False
    fan_in_fan_out: bool = False
    use_dora: bool = False
    lora_bias: bool = False
    rank_pattern: dict[str, int] = field(default_factory=dict)
    alpha_pattern: dict[str, float] = field(default_factory=dict)
    init_lora_weights: object = True
    modules_to_save: tuple[str, ...] = ()
    trainable_token_indices: object = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def rank_of(self, module: str) -> int:
        """r for `module` (its path inside the adapted model, without `base_model.model.`)."""
        return self.rank_pattern.get(pattern_key(self.rank_pattern, module), self.r)

    def alpha_of(self, module: str) -> float:
        """lora_alpha for `module`, resolved like rank_of."""
        return self.alpha_pattern.get(pattern_key(self.alpha_pattern, module), self.lora_alpha)

    def scale_of(self, module: str) -> float:
        """s = alpha/r, or alpha/sqrt(r) with use_rslora, from the module's resolved r and alpha."""
        r, alpha = self.rank_of(module), self.alpha_of(module)
        return alpha / math.sqrt(r) if self.use_rslora else alpha / r

    def warnings(self) -> list[str]:
        """Report notes: initialisations after which the adapter is not a delta over the original base."""
        init = str(self.init_lora_weights).lower()
        for prefix in MUTATING_INITS:
            if init.startswith(prefix):
                return [
                    f"{self.path}: init_lora_weights={self.init_lora_weights!r} rewrites the base weights at "
                    "initialisation, so this adapter is a delta over that modified base, not over BASE; the "
                    "spectra describe W0 + ΔW only approximately (convert it with "
                    "path_initial_model_for_weight_conversion for an exact delta)"
                ]
        return []


def pattern_key(patterns: dict[str, Any], module: str) -> str:
    """PEFT's `get_pattern_key`: the first pattern, in dict order, matching the end of `module` at a dot."""
    for key in patterns:
        if re.match(rf"(.*\.)?({key})$", module):
            return key
    return module


def _positive_int(path: Path, what: str, value: object) -> int:
    if type(value) is not int or value <= 0:
        raise InputError(f"{path}: {what} must be a positive integer, got {value!r}")
    return value


def _alpha(path: Path, what: str, value: object) -> float:
    """A finite lora_alpha ≥ 0 (PEFT accepts 0: ΔW = 0, which the scan warns about)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise InputError(f"{path}: {what} must be a number ≥ 0, got {value!r}")
    return value


def _flag(path: Path, raw: dict[str, Any], key: str) -> bool:
    value = raw.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InputError(f"{path}: {key} must be true or false, got {value!r}")
    return value


def _pattern(path: Path, raw: dict[str, Any], key: str, check) -> dict[str, Any]:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise InputError(f"{path}: {key} must be an object mapping module patterns to values")
    for pattern, item in value.items():
        try:
            re.compile(pattern)
        except re.error as err:
            raise InputError(
                f"{path}: {key} key {pattern!r} is not a valid regular expression ({err})"
            ) from err
        check(path, f"{key}[{pattern!r}]", item)
    return dict(value)


def parse_lora_settings(raw: dict[str, Any], path: Path) -> LoraSettings:
    """Check an adapter_config.json dict and return LoraSettings; anything but plain LoRA is an InputError."""
    peft_type = raw.get("peft_type")
    if peft_type is None:
        raise InputError(f"{path}: no 'peft_type'; not a PEFT adapter config")
    if str(peft_type).upper() != "LORA":
        raise InputError(
            f"{path}: peft_type is {peft_type!r}; only LoRA adapters (peft_type 'LORA') are supported"
        )
    for key, why in _UNSUPPORTED.items():
        if raw.get(key) not in (None, False, [], {}):
            raise InputError(f"{path}: {key}={raw[key]!r} is not supported: {why}")
    modules_to_save = raw.get("modules_to_save") or []
    if isinstance(modules_to_save, str):
        modules_to_save = [modules_to_save]
    if not isinstance(modules_to_save, list) or not all(isinstance(m, str) for m in modules_to_save):
        raise InputError(f"{path}: modules_to_save must be a list of module names")
    return LoraSettings(
        path=path,
        r=_positive_int(path, "r", raw.get("r", DEFAULT_R)),
        lora_alpha=_alpha(path, "lora_alpha", raw.get("lora_alpha", DEFAULT_ALPHA)),
        use_rslora=_flag(path, raw, "use_rslora"),
        fan_in_fan_out=_flag(path, raw, "fan_in_fan_out"),
        use_dora=_flag(path, raw, "use_dora"),
        lora_bias=_flag(path, raw, "lora_bias"),
        rank_pattern=_pattern(path, raw, "rank_pattern", _positive_int),
        alpha_pattern=_pattern(path, raw, "alpha_pattern", _alpha),
        init_lora_weights=raw.get("init_lora_weights", True),
        modules_to_save=tuple(dict.fromkeys(modules_to_save)),
        trainable_token_indices=raw.get("trainable_token_indices"),
        raw=raw,
    )


def read_lora_settings(folder: Path) -> LoraSettings:
    """Read and check `folder/adapter_config.json`; a missing file is an InputError."""
    path = folder / "adapter_config.json"
    if not path.is_file():
        raise InputError(f"{folder}: adapter_config.json is missing (needed for r, lora_alpha and scaling)")
    return parse_lora_settings(read_json_object(path), path)
