"""Ways to damage a saved model, adapter or file on purpose: each writes the bad input the corpus needs."""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file


def copy_tree(src: Path, dest: Path) -> Path:
    """A private copy of a saved model or adapter folder (the session's originals are never touched)."""
    shutil.copytree(src, dest, symlinks=True)
    return dest


def read_raw(path: Path) -> tuple[dict, bytes]:
    """A safetensors file as (header dict, data bytes)."""
    blob = path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    return json.loads(blob[8 : 8 + n]), blob[8 + n :]


def write_raw(path: Path, header: dict, data: bytes) -> Path:
    """Write a safetensors file from a header dict (not validated) and raw data bytes."""
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def tensor_names(path: Path) -> list[str]:
    """The tensor names of a safetensors file, in data order."""
    header, _ = read_raw(path)
    names = [k for k in header if k != "__metadata__"]
    return sorted(names, key=lambda k: header[k]["data_offsets"][0])


def truncate(path: Path, keep: int) -> Path:
    """Cut `path` to its first `keep` bytes (a half-downloaded file)."""
    os.truncate(path, keep)
    return path


def header_length(path: Path) -> int:
    """The 8-byte length prefix of a safetensors file: the size of its JSON header."""
    return struct.unpack("<Q", path.read_bytes()[:8])[0]


def overlap(path: Path, first: str, second: str) -> Path:
    """Point `second`'s byte range into `first`'s (same size tensors): the two overlap in the file."""
    header, data = read_raw(path)
    a = header[first]["data_offsets"]
    b = header[second]["data_offsets"]
    assert a[1] - a[0] == b[1] - b[0], "pick two tensors of the same size"
    shift = (a[1] - a[0]) // 2
    header[second]["data_offsets"] = [a[0] + shift, a[1] + shift]
    return write_raw(path, header, data)


def past_end(path: Path, name: str, extra: int = 4096) -> Path:
    """Move the last tensor's byte range beyond the end of the file's data."""
    header, data = read_raw(path)
    lo, hi = header[name]["data_offsets"]
    header[name]["data_offsets"] = [lo + extra, hi + extra]
    return write_raw(path, header, data)


def edit_tensors(path: Path, change) -> Path:
    """Load a safetensors file, let `change(tensors)` edit the dict in place, save it back (format pt)."""
    tensors = load_file(path)
    change(tensors)
    save_file({k: v.contiguous() for k, v in tensors.items()}, path, metadata={"format": "pt"})
    return path


def set_value(name: str, value: float):
    """An `edit_tensors` change: one element of tensor `name` becomes `value` (NaN, Inf)."""

    def change(tensors: dict[str, torch.Tensor]) -> None:
        t = tensors[name].clone()
        t.view(-1)[0] = value
        tensors[name] = t

    return change


def edit_json(path: Path, change) -> Path:
    """Load a JSON file, let `change(obj)` edit it in place, write it back."""
    obj = json.loads(path.read_text())
    change(obj)
    path.write_text(json.dumps(obj, indent=1))
    return path


def shards(folder: Path) -> list[Path]:
    """The safetensors shards of a sharded HF folder, in name order."""
    return sorted(folder.glob("model-*.safetensors"))


class Evil:
    """Unpickling this runs `touch MARKER`: the pickle that must never be executed."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def load_all(path: Path) -> dict[str, torch.Tensor]:
    """Every tensor of a safetensors file."""
    return load_file(path)


def read_tensor(path: Path, name: str) -> torch.Tensor:
    """One tensor of a safetensors file."""
    return load_file(path)[name]
