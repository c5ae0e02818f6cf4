"""Get W0's base spectrum from the index, or compute it once and store it for every later scan.

Builders of the same entry take an advisory lock (filelock) so concurrent scans or `index` runs do not
compute it twice; correctness never depends on the lock: entries only appear by atomic rename, and a
builder that loses the race keeps its own (identical) result. A lock held longer than LOCK_WAIT is
ignored, so a stuck process cannot stall others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import filelock
import torch

from lorascope.index.entry import EntryRead, read_entry, write_entry
from lorascope.index.key import TensorKey, full_hash, tensor_key
from lorascope.index.layout import IndexLayout
from lorascope.index.precision import as_stored
from lorascope.spectral import BaseSpectrum, base_spectrum

LOCK_WAIT = 900.0  # seconds: longer than any single base spectrum takes on a CPU
Status = Literal["hit", "built", "rebuilt"]


@dataclass(frozen=True)
class Obtained:
    """The spectrum (stored precision, CPU), how it was obtained, and why an old entry was replaced."""

    spectrum: BaseSpectrum
    status: Status
    replaced: str | None = None  # the problem of the entry that was rebuilt ("stale: ...", "corrupt: ...")
    write_error: str | None = None  # the entry could not be stored (the spectrum is still right)


def _usable(found: EntryRead, source_sha256: str | None) -> bool:
    if found.spectrum is None:
        return False
    return source_sha256 is None or (found.meta or {}).get("source_sha256") == source_sha256


def _why(found: EntryRead, source_sha256: str | None) -> str | None:
    if found.problem is not None:
        return f"corrupt: {found.problem}"
    if found.spectrum is not None and source_sha256 is not None:
        return "stale: the full SHA-256 of the matrix differs from the one the entry was built from"
    return None


def compute_spectrum(W0: torch.Tensor, device: torch.device) -> BaseSpectrum:
    """W0's base spectrum computed on `device`, rounded to the stored precision (CPU)."""
    return as_stored(base_spectrum(W0.to(device)))


def obtain(layout: IndexLayout, key: TensorKey, W0: torch.Tensor, *, device: torch.device,
           found: EntryRead | None = None, verify_full_hash: bool = False, version: str = "",
           compute: Callable[[torch.Tensor, torch.device], BaseSpectrum] = compute_spectrum) -> Obtained:
    """The stored-precision spectrum of W0 (key `key`): read if a verified entry exists, else built and stored.

    `found`: a read already made (e.g. by a prefetch thread). `verify_full_hash`: also require the entry's
    recorded SHA-256 of the source matrix to equal W0's (else it is stale and rebuilt).
    """
    sha = full_hash(W0) if verify_full_hash else None
    found = read_entry(layout, key) if found is None else found
    if _usable(found, sha):
        return Obtained(found.spectrum, "hit")
    lock = None
    try:
        lock = filelock.FileLock(str(layout.lock(key.digest)), timeout=LOCK_WAIT)
        layout.lock(key.digest).parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except (OSError, filelock.Timeout):
        lock = None  # unwritable index or a stuck holder: compute without the lock
    try:
        again = read_entry(layout, key)
        if _usable(again, sha):
            return Obtained(again.spectrum, "hit")  # a concurrent builder finished it while we waited
        spectrum = compute(W0, device)
        replaced = _why(again, sha)
        try:
            write_entry(layout, key, spectrum, source_sha256=sha or full_hash(W0), replace=again.exists,
                        version=version)
        except OSError as e:
            return Obtained(spectrum, "rebuilt" if again.exists else "built", replaced,
                            write_error=f"{layout.root}: cannot write the index ({e.strerror or e})")
        return Obtained(spectrum, "rebuilt" if again.exists else "built", replaced)
    finally:
        if lock is not None:
            lock.release()


def kept_spectrum(W0: torch.Tensor, layout: IndexLayout | None, warnings: list[str], version: str = "") -> BaseSpectrum:
    """W0's base spectrum from the index under `layout` (read, or built and kept), or computed here if None.

    An index that cannot be written still gives the right spectrum; why it was not kept goes to `warnings`.
    """
    if layout is None:
        return base_spectrum(W0)
    got = obtain(layout, tensor_key(W0), W0, device=torch.device("cpu"), version=version)
    note = f"{got.write_error}; base spectra are computed but not kept" if got.write_error else None
    if note is not None and note not in warnings:
        warnings.append(note)
    return got.spectrum

