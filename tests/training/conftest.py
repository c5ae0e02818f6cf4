"""Fixtures for the training tests: tiny saved models (LLaMA like the default real model, BERT MLM)."""

from __future__ import annotations

from pathlib import Path

import pytest

from training import toys


@pytest.fixture(scope="session")
def llama_dir(tmp_path_factory) -> Path:
    """A tiny 3-block LlamaForCausalLM with a BOS-adding character tokenizer (never modify it)."""
    return toys.tiny_llama_dir(tmp_path_factory.mktemp("tiny") / "llama")


@pytest.fixture(scope="session")
def bert_mlm_dir(tmp_path_factory) -> Path:
    """A tiny 2-block BertForMaskedLM with [CLS]/[SEP]/[MASK] (never modify it)."""
    return toys.tiny_bert_mlm_dir(tmp_path_factory.mktemp("tiny") / "bert")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    """One lorascope cache (hidden states) for the session."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Tiny models gain nothing from threads, and a shared 2-core machine punishes them."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
