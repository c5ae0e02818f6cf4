"""Tiny saved models with character-level tokenizers, built from configs (no downloads), for training tests.

`tiny_llama_dir` is a 3-block LlamaForCausalLM (the default real model's architecture) with a
tokenizer that adds BOS; `tiny_gemma3_dir` a 4-block Gemma3ForCausalLM (the second model family) with the
same tokenizer; `tiny_bert_mlm_dir` a 2-block BertForMaskedLM with [CLS]/[SEP]/[MASK].
"""

from __future__ import annotations

import string
import warnings
from pathlib import Path

import torch

CHARS = string.ascii_lowercase + string.digits + " .,'!?-"


def char_tokenizer(kind: str):
    """A fast tokenizer over lowercase characters (vocab < 64); 'llama' adds BOS, 'bert' [CLS]…[SEP]."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    special = ["<pad>", "<s>", "</s>", "<unk>"] if kind == "llama" else ["[PAD]", "[UNK]", "[CLS]", "[SEP]",
                                                                          "[MASK]"]
    vocab = {tok: i for i, tok in enumerate(special + list(CHARS))}
    unk = "<unk>" if kind == "llama" else "[UNK]"
    tok = Tokenizer(models.WordLevel(vocab, unk_token=unk))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    tok.decoder = decoders.Fuse()
    if kind == "llama":
        tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
        return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>",
                                       pad_token="<pad>", unk_token="<unk>")
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]",
                                                       special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]",
                                   cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")


def _save(model, tokenizer, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save_pretrained(path)
        tokenizer.save_pretrained(path)
    return path


def tiny_llama_dir(path: Path, seed: int = 0, hidden: int = 32, layers: int = 3, inter: int = 48) -> Path:
    """A seeded tiny LlamaForCausalLM (tied embeddings, GQA) saved with its tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=64, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         tie_word_embeddings=True, bos_token_id=1, eos_token_id=2, pad_token_id=0)
    torch.manual_seed(seed)
    return _save(LlamaForCausalLM(config), char_tokenizer("llama"), path)


def tiny_bert_mlm_dir(path: Path, seed: int = 0) -> Path:
    """A seeded tiny BertForMaskedLM saved with its tokenizer."""
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=48, max_position_embeddings=256, pad_token_id=0)
    torch.manual_seed(seed)
    return _save(BertForMaskedLM(config), char_tokenizer("bert"), path)


def tiny_gemma3_dir(path: Path, seed: int = 0, layers: int = 4, sliding_window: int = 4, full_every: int = 3) -> Path:
    """A seeded tiny Gemma3ForCausalLM (gemma3_text: scaled embedding, q/k norms, sliding attention layers with
    every `full_every`-th one full, one KV head, tied head) saved with the BOS-adding character tokenizer."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    kinds = ["full_attention" if (i + 1) % full_every == 0 else "sliding_attention" for i in range(layers)]
    config = Gemma3TextConfig(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=layers,
                              num_attention_heads=4, num_key_value_heads=1, head_dim=16, max_position_embeddings=256,
                              sliding_window=sliding_window, layer_types=kinds, tie_word_embeddings=True,
                              bos_token_id=1, eos_token_id=2, pad_token_id=0)
    torch.manual_seed(seed)
    model = Gemma3ForCausalLM(config)
    with torch.no_grad():  # Gemma's RMSNorm scales by (1 + weight), initialised to 0: make the norms matter
        for name, param in model.named_parameters():
            if name.endswith("norm.weight"):
                param.normal_(0.0, 0.3)
    return _save(model, char_tokenizer("llama"), path)
