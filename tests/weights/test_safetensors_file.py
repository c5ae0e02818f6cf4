"""The .safetensors header check: any corruption is an InputError naming the file, before any read."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from lorascope.weights.safetensors_file import load_tensor, read_header


def _write_raw(path: Path, header: dict, data: bytes) -> Path:
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


def _good(path: Path) -> Path:
    save_file({"a.weight": torch.arange(6.0).reshape(2, 3), "b.bias": torch.ones(4)}, str(path))
    return path


def test_good_file_header_and_lazy_read(tmp_path):
    path = _good(tmp_path / "m.safetensors")
    header = read_header(path)
    assert set(header.entries) == {"a.weight", "b.bias"}
    assert header.entries["a.weight"].shape == (2, 3) and header.entries["a.weight"].dtype == "F32"
    assert torch.equal(load_tensor(path, "a.weight"), torch.arange(6.0).reshape(2, 3))


def test_bf16_and_empty_tensors(tmp_path):
    path = tmp_path / "m.safetensors"
    save_file({"w": torch.ones(2, 2, dtype=torch.bfloat16), "e": torch.zeros(0, 3)}, str(path))
    header = read_header(path)
    assert header.entries["w"].dtype == "BF16" and header.entries["e"].shape == (0, 3)


def test_truncated_header(tmp_path, refused):
    path = _good(tmp_path / "m.safetensors")
    path.write_bytes(path.read_bytes()[:30])
    refused(lambda: read_header(path), str(path), "header", "truncated")


def test_shorter_than_length_prefix(tmp_path, refused):
    path = tmp_path / "m.safetensors"
    path.write_bytes(b"\x01\x02")
    refused(lambda: read_header(path), str(path), "too short")


def test_truncated_data(tmp_path, refused):
    path = _good(tmp_path / "m.safetensors")
    path.write_bytes(path.read_bytes()[:-5])
    refused(lambda: read_header(path), str(path), "b.bias", "truncated")


def test_bad_json(tmp_path, refused):
    path = tmp_path / "m.safetensors"
    raw = b'{"a": {"dtype": "F32",'
    path.write_bytes(struct.pack("<Q", len(raw)) + raw)
    refused(lambda: read_header(path), str(path), "not valid JSON")


def test_duplicate_names_in_header(tmp_path, refused):
    path = tmp_path / "m.safetensors"
    entry = '{"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}'
    raw = ('{"a": ' + entry + ', "a": ' + entry + "}").encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * 4)
    refused(lambda: read_header(path), str(path), "duplicate")


def test_overlapping_offsets(tmp_path, refused):
    header = {
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
    }
    path = _write_raw(tmp_path / "m.safetensors", header, b"\0" * 12)
    refused(lambda: read_header(path), str(path), "overlapping", "'a'", "'b'")


def test_offsets_past_end_of_file(tmp_path, refused):
    header = {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}
    path = _write_raw(tmp_path / "m.safetensors", header, b"\0" * 8)
    refused(lambda: read_header(path), str(path), "'a'", "out of range")


def test_offsets_not_matching_dtype_and_shape(tmp_path, refused):
    header = {"a": {"dtype": "F16", "shape": [2, 2], "data_offsets": [0, 16]}}
    path = _write_raw(tmp_path / "m.safetensors", header, b"\0" * 16)
    refused(lambda: read_header(path), str(path), "'a'", "needs 8")


def test_unknown_dtype(tmp_path, refused):
    header = {"a": {"dtype": "F17", "shape": [1], "data_offsets": [0, 4]}}
    path = _write_raw(tmp_path / "m.safetensors", header, b"\0" * 4)
    refused(lambda: read_header(path), str(path), "'a'", "F17")


def test_gap_between_tensors(tmp_path, refused):
    header = {
        "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
        "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]},
    }
    path = _write_raw(tmp_path / "m.safetensors", header, b"\0" * 12)
    refused(lambda: read_header(path), str(path), "gap", "'b'")


@pytest.mark.parametrize(
    "entry",
    [
        {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]},
        {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]},
        {"dtype": "F32", "shape": [1]},
        {"shape": [1], "data_offsets": [0, 4]},
    ],
)
def test_malformed_entries(tmp_path, refused, entry):
    path = _write_raw(tmp_path / "m.safetensors", {"a": entry}, b"\0" * 4)
    refused(lambda: read_header(path), str(path), "'a'")


def test_missing_tensor_read_names_file(tmp_path, refused):
    path = _good(tmp_path / "m.safetensors")
    refused(lambda: load_tensor(path, "nope"), str(path), "nope")
