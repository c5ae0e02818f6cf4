"""One index entry on disk: U.npy (float32), S.npy (float64) and meta.json, verified on every read.

meta.json is written last and holds the key, the shapes, dtypes and checksums (XXH3-64) of both arrays
and the SHA-256 of the source matrix; the folder becomes visible only by an atomic rename of a finished
tmp folder. A read checks all of it (a truncated or altered file is reported, never served); arrays are
memory-mapped.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import xxhash

from lorascope.index.key import FORMAT, TensorKey
from lorascope.index.layout import IndexLayout
from lorascope.index.precision import S_DTYPE, U_DTYPE, as_stored
from lorascope.spectral import BaseSpectrum

U_FILE, S_FILE, META_FILE = "U.npy", "S.npy", "meta.json"
_NP = {torch.float32: "float32", torch.float64: "float64"}


@dataclass(frozen=True)
class EntryRead:
    """What a lookup found: a verified spectrum, or why the entry cannot be served (absent: both None)."""

    spectrum: BaseSpectrum | None = None
    problem: str | None = None  # set when an entry folder exists but fails verification
    meta: dict | None = None

    @property
    def exists(self) -> bool:
        return self.spectrum is not None or self.problem is not None


_CHECKSUMS = {
    # Every read checks the whole array, so the checksum's speed is a scan's: XXH3 reads ~30 GB/s here,
    # zlib's CRC-32 ~4 GB/s (16 ms of a warm 4096² matrix's ~200). Entries written with "crc32" still verify.
    "xxh3_64": xxhash.xxh3_64_intdigest,
    "crc32": zlib.crc32,
}


def _checksum(array: np.ndarray, kind: str = "xxh3_64") -> int:
    return _CHECKSUMS[kind](memoryview(np.ascontiguousarray(array)).cast("B"))


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _save(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array, allow_pickle=False)
        handle.flush()
        os.fsync(handle.fileno())


def _load(folder: Path, name: str, spec: dict, expected: tuple[int, ...], dtype: str) -> np.ndarray:
    """One verified array (memory-mapped copy-on-write); ValueError naming what is wrong."""
    if spec.get("file") != name or list(spec.get("shape", ())) != list(expected) or spec.get("dtype") != dtype:
        raise ValueError(f"meta.json describes {name} as {spec}, expected shape {list(expected)} {dtype}")
    array = np.load(folder / name, mmap_mode="c", allow_pickle=False)
    if tuple(array.shape) != expected or array.dtype != np.dtype(dtype):
        raise ValueError(f"{name} holds {array.dtype} {tuple(array.shape)}, expected {dtype} {expected}")
    kind = next((k for k in _CHECKSUMS if k in spec), None)
    if kind is None:
        raise ValueError(f"meta.json gives {name} no checksum")
    if _checksum(array, kind) != spec[kind]:
        raise ValueError(f"{name}: checksum ({kind}) differs from meta.json (altered or partly written)")
    return array


def read_entry(layout: IndexLayout, key: TensorKey) -> EntryRead:
    """The verified entry of `key`, or EntryRead() when there is none, or the problem with a bad one."""
    folder = layout.entry(key.digest)
    try:
        raw = (folder / META_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return EntryRead(problem="no meta.json") if folder.is_dir() else EntryRead()
    except OSError as e:
        return EntryRead(problem=f"meta.json unreadable ({e.strerror})")
    try:
        meta = json.loads(raw)
        if not isinstance(meta, dict) or meta.get("format") != FORMAT or meta.get("digest") != key.digest:
            raise ValueError("meta.json is from another format or another key")
        if meta.get("key") != key.to_json():
            raise ValueError("meta.json key differs from the matrix's key")
        m, n = key.shape
        p = min(m, n)
        U = _load(folder, U_FILE, meta.get("U", {}), (m, p), _NP[U_DTYPE])
        S = _load(folder, S_FILE, meta.get("S", {}), (p,), _NP[S_DTYPE])
    except FileNotFoundError:
        return EntryRead() if not folder.exists() else EntryRead(problem="a file of the entry is missing")
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        return EntryRead(problem=str(e))
    spectrum = BaseSpectrum(U=torch.from_numpy(U), S=torch.from_numpy(S), method=str(meta.get("method", "")))
    return EntryRead(spectrum=spectrum, meta=meta)


def write_entry(layout: IndexLayout, key: TensorKey, spectrum: BaseSpectrum, *, source_sha256: str,
                replace: bool = False, version: str = "") -> bool:
    """Store `spectrum` as the entry of `key` atomically; False when a concurrent writer's entry won.

    `replace` first moves an existing (corrupt or stale) entry aside. Raises OSError when the index
    cannot be written.
    """
    stored = as_stored(spectrum)
    U, S = stored.U.numpy(), stored.S.numpy()
    digest = key.digest
    final = layout.entry(digest)
    tmp = layout.new_tmp(digest)
    trash = None
    try:
        _save(tmp / U_FILE, U)
        _save(tmp / S_FILE, S)
        meta = {"format": FORMAT, "digest": digest, "key": key.to_json(), "method": stored.method,
                "U": {"file": U_FILE, "shape": list(U.shape), "dtype": _NP[U_DTYPE], "xxh3_64": _checksum(U)},
                "S": {"file": S_FILE, "shape": list(S.shape), "dtype": _NP[S_DTYPE], "xxh3_64": _checksum(S)},
                "source_sha256": source_sha256, "lorascope_version": version, "created_unix": time.time()}
        with open(tmp / META_FILE, "w", encoding="utf-8") as handle:
            json.dump(meta, handle, indent=1)
            handle.flush()
            os.fsync(handle.fileno())
        _fsync_dir(tmp)
        final.parent.mkdir(parents=True, exist_ok=True)
        if replace and final.exists():
            trash = layout.new_tmp("trash")
            with contextlib.suppress(FileNotFoundError):
                os.rename(final, trash / "old")
        try:
            os.rename(tmp, final)
        except OSError as e:
            if e.errno in (errno.ENOTEMPTY, errno.EEXIST):
                return False  # another builder finished the same entry first: theirs is as good
            raise
        _fsync_dir(final.parent)
        return True
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
