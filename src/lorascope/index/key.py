"""The content key of one base matrix: what an index entry is looked up by, so a changed tensor never hits.

The key is computed from the matrix the scan analyses (W0 as float32, (out, in) orientation, exactly as
`MatrixPair.load` returns it), never from a path or a file date. The cheap key, computed on every scan
(~0.05 s per 4096 × 4096 matrix, while the matrix is in memory anyway), covers:

- the analysed shape (m, n) and the storage format of the index (FORMAT);
- the SHA-256 of sampled bytes of the float32 matrix: the first and last 4 KiB and 256 evenly spaced
  blocks of 256 bytes (`sampled_ranges`);
- the exact sum, modulo 2⁶⁴, of all float32 bit patterns read as unsigned 32-bit integers: any change of
  a single element changes it;
- float64 moments of all elements, accumulated in a fixed order: Σx, Σx², Σᵢ (i+1)/m · rowsumᵢ and
  Σⱼ (j+1)/n · colsumⱼ; the position-weighted sums tell W0 from W0ᵀ (a square Conv1D weight).

So a change that keeps the shape is missed only if it leaves every sampled byte, the 64-bit word sum and
all four moments exactly unchanged (e.g. swapping two equal-magnitude changes that cancel in all of them).
`full_hash` (SHA-256 of every byte, ~0.1 s per 64 MB) is recorded in each entry when it is built and
compared on demand (`lorascope index --full-hash`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import torch

FORMAT = "lorascope-base-index/1 U:float32 S:float64"
_HEAD = 4096  # bytes hashed at each end of the matrix
_BLOCKS = 256  # evenly spaced sampled blocks in between
_BLOCK = 256  # bytes per sampled block
_ROWS = 64  # rows per chunk of the float64 moments (fixed: the chunking is part of the summation order)


@dataclass(frozen=True)
class TensorKey:
    """The cheap content key of one analysed float32 matrix; `digest` names its index entry."""

    shape: tuple[int, int]
    sample_sha256: str
    word_sum: int
    moments: tuple[str, ...]  # float.hex of the float64 moments, in the order documented above

    @property
    def digest(self) -> str:
        """SHA-256 (hex) of the canonical JSON of the key and FORMAT."""
        text = json.dumps({"format": FORMAT, **self.to_json()}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def to_json(self) -> dict:
        """JSON-ready fields (stored in each entry's meta.json)."""
        return {"shape": list(self.shape), "sample_sha256": self.sample_sha256, "word_sum": self.word_sum,
                "moments": list(self.moments)}


def _bytes_of(W0: torch.Tensor) -> np.ndarray:
    """The analysed float32 matrix as a flat uint8 view (a copy only if it is not already contiguous f32)."""
    if W0.ndim != 2:
        raise ValueError(f"a key is for a 2-D matrix; got shape {tuple(W0.shape)}")
    array = W0.detach().to(device="cpu", dtype=torch.float32).contiguous().numpy()
    return array.reshape(-1).view(np.uint8)


def sampled_ranges(nbytes: int) -> list[tuple[int, int]]:
    """[start, stop) byte ranges that the sampled hash covers, for a matrix of `nbytes` bytes."""
    if nbytes <= 2 * _HEAD + _BLOCKS * _BLOCK:
        return [(0, nbytes)]
    ranges = [(0, _HEAD)]
    inner, span = nbytes - 2 * _HEAD, nbytes - 2 * _HEAD - _BLOCK
    for i in range(_BLOCKS):
        start = _HEAD + (span * i) // (_BLOCKS - 1)
        ranges.append((start, min(start + _BLOCK, _HEAD + inner)))
    ranges.append((nbytes - _HEAD, nbytes))
    return ranges


def _moments(array: np.ndarray) -> tuple[float, float, float, float]:
    """Σx, Σx², position-weighted row and column sums, float64, in a fixed chunk order (reproducible)."""
    m, n = array.shape
    total = squares = rows = 0.0
    cols = np.zeros(n, dtype=np.float64)
    row_weight = (np.arange(m, dtype=np.float64) + 1) / m
    for i in range(0, m, _ROWS):
        chunk = array[i:i + _ROWS].astype(np.float64)
        row_sums = chunk.sum(axis=1)
        total += float(row_sums.sum())
        squares += float(np.einsum("ij,ij->", chunk, chunk))
        rows += float(row_weight[i:i + _ROWS] @ row_sums)
        cols += chunk.sum(axis=0)
    col_weight = (np.arange(n, dtype=np.float64) + 1) / n
    return total, squares, rows, float(col_weight @ cols)


def tensor_key(W0: torch.Tensor) -> TensorKey:
    """The cheap key of W0 (analysed orientation; cast to float32 as the scan analyses it)."""
    raw = _bytes_of(W0)
    digest = hashlib.sha256()
    for start, stop in sampled_ranges(raw.size):
        digest.update(raw[start:stop].data)
    word_sum = int(raw.view(np.uint32).sum(dtype=np.uint64))
    moments = _moments(raw.view(np.float32).reshape(tuple(W0.shape)))
    return TensorKey(shape=(int(W0.shape[0]), int(W0.shape[1])), sample_sha256=digest.hexdigest(),
                     word_sum=word_sum, moments=tuple(float(x).hex() for x in moments))


def full_hash(W0: torch.Tensor) -> str:
    """SHA-256 (hex) of every byte of the analysed float32 matrix: the expensive, exact content check."""
    return hashlib.sha256(_bytes_of(W0).data).hexdigest()
