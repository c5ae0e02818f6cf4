"""Write a .safetensors file whose untouched tensors are byte copies of a source file and the rest new data.

Copying the stored bytes (instead of load + save) keeps every untouched tensor bit-identical in any dtype and
reads one tensor at a time, so a shard never has to fit in memory twice.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from lorascope.errors import InputError
from lorascope.weights.safetensors_file import SafetensorsHeader, read_header

_CODES = {
    torch.float64: "F64",
    torch.float32: "F32",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}
_CHUNK = 64 << 20  # bytes copied per read


@dataclass(frozen=True)
class StoredTensor:
    """A tensor to copy byte for byte from an existing .safetensors file."""

    file: Path
    name: str


def _data_start(path: Path) -> int:
    with path.open("rb") as handle:
        (header_bytes,) = struct.unpack("<Q", handle.read(8))
    return 8 + header_bytes


def _tensor_bytes(tensor: torch.Tensor) -> bytes:
    flat = tensor.detach().cpu().contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""


def write_safetensors(
    path: Path, items: Mapping[str, torch.Tensor | StoredTensor], metadata: Mapping[str, str] | None = None
) -> Path:
    """Write `items` (in their order) to `path` and fsync it; a dtype safetensors lacks is an InputError."""
    headers: dict[Path, SafetensorsHeader] = {}
    starts: dict[Path, int] = {}
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset = 0
    for name, item in items.items():
        if isinstance(item, StoredTensor):
            if item.file not in headers:
                headers[item.file] = read_header(item.file)
                starts[item.file] = _data_start(item.file)
            entry = headers[item.file].entries[item.name]
            code, shape, size = entry.dtype, list(entry.shape), entry.end - entry.begin
        else:
            if item.dtype not in _CODES:
                raise InputError(f"{path}: cannot store tensor {name!r} of dtype {item.dtype} in safetensors")
            code, shape = _CODES[item.dtype], list(item.shape)
            size = item.numel() * item.element_size()
        header[name] = {"dtype": code, "shape": shape, "data_offsets": [offset, offset + size]}
        offset += size
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # the format pads the header to 8-byte alignment
    try:
        with path.open("wb") as out:
            out.write(struct.pack("<Q", len(raw)))
            out.write(raw)
            for item in items.values():
                if isinstance(item, StoredTensor):
                    entry = headers[item.file].entries[item.name]
                    _copy_range(item.file, starts[item.file] + entry.begin, entry.end - entry.begin, out)
                else:
                    out.write(_tensor_bytes(item))
            out.flush()
            os.fsync(out.fileno())
    except OSError as err:
        raise InputError(f"{path}: write failed ({err.strerror or err})") from err
    return path


def _copy_range(source: Path, start: int, size: int, out) -> None:
    with source.open("rb") as handle:
        handle.seek(start)
        while size > 0:
            chunk = handle.read(min(size, _CHUNK))
            if not chunk:
                raise InputError(f"{source}: file ended while copying tensor data (changed while reading?)")
            out.write(chunk)
            size -= len(chunk)
