"""Tiny saved models with character-level tokenizers, built from configs (no downloads), for training tests.

`tiny_llama_dir` is a 3-block LlamaForCausalLM (the default real model's architecture) with a
tokenizer that adds BOS; `tiny_bert_mlm_dir` a 2-block BertForMaskedLM with [CLS]/[SEP]/[MASK].
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
