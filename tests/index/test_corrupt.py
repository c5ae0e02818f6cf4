"""A damaged entry is detected on read, never served, and rebuilt by the next scan."""

from __future__ import annotations

import json
import os
import zlib

import numpy as np
import pytest

import lorascope
from index.builders import scan_json, small_model
from lorascope.index import index_layout, read_entry, tensor_key
from lorascope.pipelines.index import build_index


def _truncate_U(folder):
    path = folder / "U.npy"
    os.truncate(path, path.stat().st_size // 2)


def _flip_byte_in_U(folder):
    path = folder / "U.npy"
    data = bytearray(path.read_bytes())
    data[-100] ^= 0x40
    path.write_bytes(bytes(data))


def _drop_meta(folder):
    (folder / "meta.json").unlink()


def _garble_meta(folder):
    (folder / "meta.json").write_text("{not json")


def _wrong_shape_meta(folder):
    meta = json.loads((folder / "meta.json").read_text())
    meta["U"]["shape"] = [3, 3]
    (folder / "meta.json").write_text(json.dumps(meta))


def _drop_checksum(folder):
    meta = json.loads((folder / "meta.json").read_text())
    del meta["U"]["xxh3_64"]
    (folder / "meta.json").write_text(json.dumps(meta))


def _as_crc32(folder):
    """Rewrite the entry's checksums as earlier builds wrote them: CRC-32 of each array instead of XXH3-64."""
    meta = json.loads((folder / "meta.json").read_text())
    for name in ("U", "S"):
        del meta[name]["xxh3_64"]
        meta[name]["crc32"] = zlib.crc32(np.load(folder / f"{name}.npy").tobytes())
    (folder / "meta.json").write_text(json.dumps(meta))


def _crc32_flipped(folder):
    _as_crc32(folder)
    _flip_byte_in_U(folder)


def test_entry_written_with_crc32_is_still_served(tmp_path):
    model = small_model(tmp_path)
    cache = tmp_path / "cache"
    build_index(model.base, cache_dir=cache)
    layout = index_layout(cache)
    key = tensor_key(model.base_tensors[model.names[0]])
    before = read_entry(layout, key).spectrum
    _as_crc32(layout.entry(key.digest))
    after = read_entry(layout, key)
    assert after.problem is None and after.meta["U"]["crc32"]
    assert after.spectrum.U.equal(before.U) and after.spectrum.S.equal(before.S)


@pytest.mark.parametrize("damage", [_truncate_U, _flip_byte_in_U, _drop_meta, _garble_meta, _wrong_shape_meta,
                                    _drop_checksum, _crc32_flipped])
def test_damaged_entry_is_rebuilt_not_served(tmp_path, decompositions, damage):
    model = small_model(tmp_path)
    cache = tmp_path / "cache"
    build_index(model.base, cache_dir=cache)
    layout = index_layout(cache)
    key = tensor_key(model.base_tensors[model.names[0]])
    damage(layout.entry(key.digest))
    found = read_entry(layout, key)
    assert found.spectrum is None and found.problem
    decompositions.clear()
    result = lorascope.scan(model.base, model.adapter, cache_dir=cache)
    assert decompositions == [key.shape]
    assert any("rebuilt its base index entry" in w for w in result.warnings)
    data = scan_json(result)
    data["warnings"] = []
    assert data == scan_json(lorascope.scan(model.base, model.adapter, cache=False))
    assert read_entry(layout, key).spectrum is not None  # repaired in place
    assert not list(layout.tmp.iterdir())  # the damaged folder was moved aside and deleted
