"""All file I/O for weights: HF directories, safetensors shards, PEFT adapters, key matching."""

from lorascope.weights.adapter import LoraAdapter, LoraModule, ReplacedTensor, read_adapter
from lorascope.weights.adapter_config import (
    LoraSettings,
    parse_lora_settings,
    pattern_key,
    read_lora_settings,
)
from lorascope.weights.checkpoint import is_adapter_dir, open_checkpoint, open_weights_file
from lorascope.weights.pairing import MatrixPair, Plan, plan_pairs
from lorascope.weights.safetensors_file import SafetensorsHeader, TensorEntry, load_tensor, read_header
from lorascope.weights.skipped import Skipped
from lorascope.weights.store import TensorInfo, TensorStore

__all__ = [
    "LoraAdapter",
    "LoraModule",
    "LoraSettings",
    "MatrixPair",
    "Plan",
    "ReplacedTensor",
    "SafetensorsHeader",
    "Skipped",
    "TensorEntry",
    "TensorInfo",
    "TensorStore",
    "is_adapter_dir",
    "load_tensor",
    "open_checkpoint",
    "open_weights_file",
    "parse_lora_settings",
    "pattern_key",
    "plan_pairs",
    "read_adapter",
    "read_header",
    "read_lora_settings",
]
