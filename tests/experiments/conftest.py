"""Fixtures for the recipe tests: a tiny LLaMA, one cache, and the overrides that shrink a quick profile."""

from __future__ import annotations

from pathlib import Path

import pytest

from training import toys


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    """A tiny 3-block LlamaForCausalLM with a character tokenizer (never modify it)."""
    return toys.tiny_llama_dir(tmp_path_factory.mktemp("tiny") / "llama")


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def tiny(tiny_llama) -> dict:
    """Overrides that run a file's quick profile on the tiny model in seconds (every code path kept)."""
    return {"train": {"model": str(tiny_llama), "train_layers": "top:2", "max_length": 32, "train_examples": 64,
                      "test_examples": 32, "forget_chunks": 2, "forget_chunk_length": 48, "eval_batch_size": 32}}


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """Tiny models gain nothing from threads, and a shared 2-core machine punishes them."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
