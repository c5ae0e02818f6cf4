"""One .safetensors file: a cheap header check first, then lazy memory-mapped reads of single tensors."""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import torch

from lorascope.errors import InputError

# safetensors dtype code -> (torch dtype name, bits per element). Names are resolved lazily so an older torch
# without the float8 types still imports this module.
_DTYPES: dict[str, tuple[str, int]] = {
    "F64": ("float64", 64),
    "F32": ("float32", 32),
    "F16": ("float16", 16),
    "BF16": ("bfloat16", 16),
    "I64": ("int64", 64),
    "I32": ("int32", 32),
    "I16": ("int16", 16),
    "I8": ("int8", 8),
    "U64": ("uint64", 64),
    "U32": ("uint32", 32),
    "U16": ("uint16", 16),
    "U8": ("uint8", 8),
    "BOOL": ("bool", 8),
    "C64": ("complex64", 64),
    "F8_E4M3": ("float8_e4m3fn", 8),
    "F8_E5M2": ("float8_e5m2", 8),
    "F8_E8M0": ("float8_e8m0fnu", 8),
}

_MAX_HEADER_BYTES = 100_000_000  # the reference implementation refuses larger headers too


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor lies in a .safetensors file, per its header (offsets relative to the data block)."""

    name: str
    dtype: str  # safetensors code, e.g. "BF16"
    shape: tuple[int, ...]
    begin: int
    end: int


@dataclass(frozen=True)
class SafetensorsHeader:
    """The checked header of one .safetensors file."""

    path: Path
    entries: dict[str, TensorEntry]
    metadata: dict[str, str]


def torch_dtype(code: str) -> torch.dtype:
    """The torch dtype of a safetensors dtype code (the code was checked when the header was read)."""
    name, _ = _DTYPES[code]
    return getattr(torch, name)


def _fail(path: Path, what: str) -> InputError:
    return InputError(f"{path}: not a valid .safetensors file: {what}")


def _no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    seen: dict[str, object] = {}
    for key, value in pairs:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen[key] = value
    return seen


def _parse_entry(path: Path, name: object, raw: object) -> TensorEntry:
    if not isinstance(name, str) or not isinstance(raw, dict):
        raise _fail(path, f"header entry {name!r} is not a tensor description")
    dtype, shape, offsets = raw.get("dtype"), raw.get("shape"), raw.get("data_offsets")
    if not isinstance(dtype, str):
        raise _fail(path, f"tensor {name!r} has no dtype")
    if dtype not in _DTYPES or not hasattr(torch, _DTYPES[dtype][0]):
        raise _fail(path, f"tensor {name!r} has unknown or unsupported dtype {dtype!r}")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise _fail(path, f"tensor {name!r} has a malformed shape {shape!r}")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(type(o) is int and o >= 0 for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise _fail(path, f"tensor {name!r} has malformed data_offsets {offsets!r}")
    bits = math.prod(shape) * _DTYPES[dtype][1]
    if bits % 8 or bits // 8 != offsets[1] - offsets[0]:
        raise _fail(
            path,
            f"tensor {name!r}: data_offsets {offsets} span {offsets[1] - offsets[0]} bytes but "
            f"{dtype} x {tuple(shape)} needs {bits / 8:g}",
        )
    return TensorEntry(name, dtype, tuple(shape), offsets[0], offsets[1])


def _check_layout(path: Path, entries: list[TensorEntry], data_bytes: int) -> None:
    """Offsets must tile the data block exactly: no overlap, no gap, nothing past the end of the file."""
    position, previous = 0, None
    for entry in sorted(entries, key=lambda e: (e.begin, e.end)):
        if entry.end > data_bytes:
            raise _fail(
                path,
                f"tensor {entry.name!r} ends at data byte {entry.end} but the file holds only {data_bytes} "
                "data bytes (truncated file or offsets out of range)",
            )
        if entry.begin < position:
            raise _fail(path, f"tensors {previous!r} and {entry.name!r} have overlapping data_offsets")
        if entry.begin > position:
            raise _fail(path, f"a gap of {entry.begin - position} bytes lies before tensor {entry.name!r}")
        position, previous = entry.end, entry.name
    if position != data_bytes:
        raise _fail(
            path, f"{data_bytes - position} bytes after the last tensor are not described by the header"
        )


def read_header(path: str | Path) -> SafetensorsHeader:
    """Read and check a .safetensors header without touching tensor data, so corruption fails early."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            prefix = handle.read(8)
            if len(prefix) < 8:
                raise _fail(path, f"{size} bytes is too short to hold the 8-byte header length")
            (header_bytes,) = struct.unpack("<Q", prefix)
            if header_bytes > _MAX_HEADER_BYTES:
                raise _fail(path, f"header length {header_bytes} is implausibly large")
            if 8 + header_bytes > size:
                raise _fail(path, f"header of {header_bytes} bytes is truncated (file has {size} bytes)")
            raw_header = handle.read(header_bytes)
    except OSError as err:
        raise InputError(f"{path}: cannot read: {err.strerror or err}") from err
    try:
        parsed = json.loads(raw_header.decode("utf-8"), object_pairs_hook=_no_duplicate_keys)
    except (UnicodeDecodeError, ValueError) as err:
        raise _fail(path, f"header is not valid JSON ({err})") from err
    if not isinstance(parsed, dict):
        raise _fail(path, "header is not a JSON object")
    metadata = parsed.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise _fail(path, "__metadata__ is not an object")
    entries = [_parse_entry(path, name, raw) for name, raw in parsed.items()]
    _check_layout(path, entries, size - 8 - header_bytes)
    return SafetensorsHeader(
        path, {e.name: e for e in entries}, {str(k): str(v) for k, v in metadata.items()}
    )


def load_tensor(path: str | Path, name: str) -> torch.Tensor:
    """Read one tensor from a (checked) .safetensors file through a memory map; other tensors stay on disk."""
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            return handle.get_tensor(name)
    except (SafetensorError, OSError, RuntimeError, ValueError) as err:
        raise InputError(f"{path}: cannot read tensor {name!r}: {err}") from err
