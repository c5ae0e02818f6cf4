"""Write a model checkpoint in the exact layout of an existing one, with some tensors given new values.

Same file names, same shard index (copied byte for byte: names, shapes and dtypes do not change), same
dtype per tensor, same safetensors metadata. A shard without new values is copied whole; in a shard with
some, the other tensors are byte copies (see write_safetensors).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch

from lorascope.errors import InputError
from lorascope.weights.matrix_change import MatrixChange, as_stored
from lorascope.weights.safetensors_file import read_header
from lorascope.weights.store import TensorStore
from lorascope.weights.write_safetensors import StoredTensor, write_safetensors


def checkpoint_files(store: TensorStore) -> tuple[Path, list[Path]]:
    """The folder the layout is relative to and the files to write (index first); pickles: InputError."""
    root = store.root
    files = sorted({info.file for info in store.infos.values()})
    bad = [f for f in files if f.suffix != ".safetensors"]
    if bad:
        raise InputError(
            f"{bad[0]}: scale writes .safetensors models only; convert this pickled checkpoint first"
        )
    folder = root.parent
    if root.name.endswith(".index.json"):
        return folder, [root, *files]
    return folder, files


def _checked(store: TensorStore, name: str, make: Callable[[], torch.Tensor]) -> torch.Tensor:
    value, info = make(), store.info(name)
    if tuple(value.shape) != info.shape or value.dtype != info.dtype:
        raise ValueError(
            f"{info.file}: new value of {name!r} is {value.dtype} {tuple(value.shape)}, "
            f"the checkpoint stores {info.dtype} {info.shape}"
        )
    return value


def write_checkpoint(
    store: TensorStore, dest: Path, new_values: Mapping[str, Callable[[], torch.Tensor]]
) -> list[str]:
    """Write `store`'s weight files into the folder `dest`, tensors in `new_values` replaced; the file names.

    A new value is made when its shard is written (one shard's new tensors in memory at a time) and must have
    the tensor's stored shape and dtype: the caller orients and casts.
    """
    for name in new_values:
        store.info(name)  # an unknown name fails before anything is written
    folder, files = checkpoint_files(store)
    by_file: dict[Path, dict[str, Callable[[], torch.Tensor]]] = {}
    for name, make in new_values.items():
        by_file.setdefault(store.file_of(name), {})[name] = make
    written = []
    for source in files:
        relative = source.relative_to(folder)
        target = dest / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        changed = by_file.get(source)
        if not changed:
            shutil.copyfile(source, target)
        else:
            header = read_header(source)
            order = sorted(header.entries.values(), key=lambda e: e.begin)
            items = {
                e.name: _checked(store, e.name, changed[e.name])
                if e.name in changed
                else StoredTensor(source, e.name)
                for e in order
            }
            write_safetensors(target, items, header.metadata)
        written.append(str(relative))
    return written


def write_changed_checkpoint(store: TensorStore, dest: Path, changes: Sequence[MatrixChange]) -> list[str]:
    """Write the checkpoint `store` into `dest` with each change applied to its tensor (stored orientation and
    dtype kept); the file names."""
    values = {
        c.pair.tuned_name: lambda c=c, d=store.info(c.pair.tuned_name).dtype: as_stored(c.value(), c.pair.transposed, d)
        for c in changes
    }
    return write_checkpoint(store, dest, values)
