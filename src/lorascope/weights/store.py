"""Read-only view of a checkpoint's or adapter's tensors: names, shapes, dtypes now; data one at a time."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from lorascope.errors import InputError
from lorascope.finite import all_finite


@dataclass(frozen=True)
class TensorInfo:
    """Name, dtype and shape of one stored tensor, and the file that holds it."""

    name: str
    file: Path
    dtype: torch.dtype
    shape: tuple[int, ...]


@dataclass(frozen=True)
class TensorStore:
    """Tensors of one model or adapter; `get` reads one tensor from disk and refuses NaN/Inf."""

    root: Path
    infos: Mapping[str, TensorInfo]
    config: dict[str, Any] | None = None  # config.json (adapter_config.json for an adapter), when present
    reader: Callable[[TensorInfo], torch.Tensor] = field(default=lambda info: torch.empty(0), repr=False)

    def keys(self) -> list[str]:
        """All tensor names, in stored order."""
        return list(self.infos)

    def __contains__(self, key: object) -> bool:
        return key in self.infos

    def __iter__(self) -> Iterator[str]:
        return iter(self.infos)

    def __len__(self) -> int:
        return len(self.infos)

    def info(self, key: str) -> TensorInfo:
        """The TensorInfo of `key`; an unknown name is an InputError naming the store."""
        try:
            return self.infos[key]
        except KeyError:
            raise InputError(f"{self.root}: no tensor named {key!r}") from None

    def shape(self, key: str) -> tuple[int, ...]:
        """Stored shape of `key`."""
        return self.info(key).shape

    def dtype(self, key: str) -> torch.dtype:
        """Stored dtype of `key`."""
        return self.info(key).dtype

    def file_of(self, key: str) -> Path:
        """The file that holds `key` (a shard, for a sharded checkpoint)."""
        return self.info(key).file

    def get(self, key: str) -> torch.Tensor:
        """The tensor `key` in its stored dtype; NaN or Inf is an InputError naming tensor and file."""
        info = self.info(key)
        tensor = self.reader(info)
        if tuple(tensor.shape) != info.shape:
            raise InputError(
                f"{info.file}: tensor {key!r} has shape {tuple(tensor.shape)}, expected {info.shape}"
            )
        if not all_finite(tensor):
            bad = ~torch.isfinite(tensor)
            n_nan = int(torch.isnan(tensor).sum())
            raise InputError(
                f"{info.file}: tensor {key!r} holds non-finite values "
                f"({n_nan} NaN, {int(bad.sum()) - n_nan} Inf of {tensor.numel()})"
            )
        return tensor
