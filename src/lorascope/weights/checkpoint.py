"""Open a model checkpoint (HF folder, single file, shard index) as a TensorStore, checking headers first."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import torch

from lorascope.errors import InputError
from lorascope.weights.json_file import read_json_object
from lorascope.weights.pickle_file import PICKLE_SUFFIXES, load_pickle_state, refuse_pickle
from lorascope.weights.safetensors_file import load_tensor, read_header, torch_dtype
from lorascope.weights.shard_index import read_shard_index
from lorascope.weights.store import TensorInfo, TensorStore

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


def existing_path(path: str | Path, role: str) -> Path:
    """`path` as a Path once it is known to exist; a missing path or a symlink loop is an InputError."""
    path = Path(path).expanduser()
    try:
        os.stat(path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise InputError(f"{role} {path}: symlink loop") from err
        if path.is_symlink():
            raise InputError(f"{role} {path}: dangling symlink to {os.readlink(path)}") from err
        if err.errno in (errno.ENOENT, errno.ENOTDIR):
            raise InputError(f"{role} {path}: does not exist") from err
        raise InputError(f"{role} {path}: cannot access ({err.strerror})") from err
    return path


def is_adapter_dir(path: Path) -> bool:
    """Whether `path` looks like a PEFT adapter folder (its config or its weights file is there)."""
    return path.is_dir() and any((path / name).exists() for name in (ADAPTER_CONFIG, *ADAPTER_WEIGHTS))


def _config_beside(folder: Path) -> dict[str, Any] | None:
    config = folder / "config.json"
    return read_json_object(config) if config.is_file() else None


def _safetensors_store(
    root: Path, files_by_name: dict[str, Path] | None, files: list[Path], config
) -> TensorStore:
    headers = {f: read_header(f) for f in files}
    holders: dict[str, list[Path]] = {}
    for f, header in headers.items():
        for name in header.entries:
            holders.setdefault(name, []).append(f)
    duplicated = {n: fs for n, fs in holders.items() if len(fs) > 1}
    if duplicated:
        name, fs = next(iter(duplicated.items()))
        raise InputError(
            f"{root}: tensor {name!r} is stored in several shards ({', '.join(f.name for f in fs)}); "
            f"{len(duplicated)} duplicated names in all"
        )
    if files_by_name is None:
        files_by_name = {name: fs[0] for name, fs in holders.items()}
    infos: dict[str, TensorInfo] = {}
    for name, f in files_by_name.items():
        entry = headers[f].entries.get(name)
        if entry is None:
            raise InputError(
                f"{root}: the index lists tensor {name!r} in shard {f.name}, which does not hold it"
            )
        infos[name] = TensorInfo(name, f, torch_dtype(entry.dtype), entry.shape)
    return TensorStore(root, infos, config, lambda info: load_tensor(info.file, info.name))


def _pickle_store(
    root: Path, files_by_name: dict[str, Path] | None, files: list[Path], config
) -> TensorStore:
    loaded = {f: load_pickle_state(f) for f in files}
    holders: dict[str, list[Path]] = {}
    for f, tensors in loaded.items():
        for name in tensors:
            holders.setdefault(name, []).append(f)
    duplicated = {n: fs for n, fs in holders.items() if len(fs) > 1}
    if duplicated:
        name, fs = next(iter(duplicated.items()))
        raise InputError(
            f"{root}: tensor {name!r} is stored in several shards ({', '.join(f.name for f in fs)})"
        )
    if files_by_name is None:
        files_by_name = {name: fs[0] for name, fs in holders.items()}
    infos: dict[str, TensorInfo] = {}
    for name, f in files_by_name.items():
        if name not in loaded[f]:
            raise InputError(
                f"{root}: the index lists tensor {name!r} in shard {f.name}, which does not hold it"
            )
        t = loaded[f][name]
        infos[name] = TensorInfo(name, f, t.dtype, tuple(t.shape))

    def read(info: TensorInfo) -> torch.Tensor:
        return loaded[info.file][info.name]

    return TensorStore(root, infos, config, read)


def open_weights_file(path: Path, *, allow_pickle: bool, config: dict[str, Any] | None = None) -> TensorStore:
    """A store over one weights file or one `*.index.json`; pickles only when allowed."""
    name = path.name
    if name.endswith(".index.json"):
        mapping = read_shard_index(path)
        shard_files = sorted(set(mapping.values()))
        if all(f.suffix == ".safetensors" for f in shard_files):
            return _safetensors_store(path, mapping, shard_files, config)
        if all(f.suffix in PICKLE_SUFFIXES for f in shard_files):
            if not allow_pickle:
                raise refuse_pickle(shard_files[0])
            return _pickle_store(path, mapping, shard_files, config)
        raise InputError(f"{path}: shards of mixed or unknown formats")
    if path.suffix == ".safetensors":
        return _safetensors_store(path, None, [path], config)
    if path.suffix in PICKLE_SUFFIXES:
        if not allow_pickle:
            raise refuse_pickle(path)
        return _pickle_store(path, None, [path], config)
    raise InputError(f"{path}: unknown weights format (expected .safetensors, a *.index.json, or a pickle)")


def _weights_file_in(folder: Path) -> Path:
    """The one weights entry point of a model folder, by the usual Hugging Face names."""
    for candidate in (
        "model.safetensors.index.json",
        "model.safetensors",
        "pytorch_model.bin.index.json",
        "pytorch_model.bin",
    ):
        if (folder / candidate).is_file():
            return folder / candidate
    found = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix == ".safetensors")
    indexes = sorted(
        p for p in folder.iterdir() if p.is_file() and p.name.endswith(".safetensors.index.json")
    )
    if len(indexes) == 1:
        return indexes[0]
    if len(found) == 1:
        return found[0]
    if found:
        raise InputError(
            f"{folder}: {len(found)} .safetensors files ({', '.join(p.name for p in found[:4])}…) and no "
            "*.index.json saying which tensor lives where; pass one file"
        )
    pickles = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in PICKLE_SUFFIXES)
    if len(pickles) == 1:
        return pickles[0]
    adapters = sorted(p.name for p in folder.iterdir() if p.is_dir() and (p / ADAPTER_CONFIG).is_file())
    if adapters:
        raise InputError(
            f"{folder}: holds no weights, but adapters in sub-folders: {', '.join(adapters)}; pass one"
        )
    if not any(folder.iterdir()):
        raise InputError(f"{folder}: the folder is empty")
    for link in sorted(p for p in folder.iterdir() if p.is_symlink() and not p.exists()):
        existing_path(link, "weights")  # a looping or dangling link where weights should be: name it
    raise InputError(
        f"{folder}: no weights found (expected model.safetensors, model.safetensors.index.json, "
        "or a PEFT adapter with adapter_config.json)"
    )


def open_checkpoint(path: str | Path, *, allow_pickle: bool = False, role: str = "weights") -> TensorStore:
    """A TensorStore over a model folder, a .safetensors file or shard index, plus config.json if any."""
    path = existing_path(path, role)
    if path.is_dir():
        if is_adapter_dir(path):
            raise InputError(f"{role} {path}: is a PEFT adapter folder, not a model checkpoint")
        return open_weights_file(
            _weights_file_in(path), allow_pickle=allow_pickle, config=_config_beside(path)
        )
    return open_weights_file(path, allow_pickle=allow_pickle, config=_config_beside(path.parent))
