"""Fixtures for the weights tests: saved tiny models (built once per session) and a refusal checker."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures import models
from lorascope.errors import InputError


def _snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every file and link under `root` with its size and content hash, to prove nothing was written."""
    found: dict[str, tuple[int, str]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            found[str(path)] = (-1, str(path.readlink()))
        elif path.is_file():
            found[str(path)] = (path.stat().st_size, hashlib.sha1(path.read_bytes()).hexdigest())
        else:
            found[str(path)] = (0, "dir")
    return found


@pytest.fixture
def refused(tmp_path: Path) -> Callable[..., InputError]:
    """Run a call that must raise InputError naming each `needle` and leave tmp_path byte-for-byte alone."""

    def check(call: Callable[[], object], *needles: str, root: Path | None = None) -> InputError:
        where = root or tmp_path
        before = _snapshot(where)
        with pytest.raises(InputError) as caught:
            call()
        message = str(caught.value)
        for needle in needles:
            assert needle in message, f"{needle!r} not in {message!r}"
        assert _snapshot(where) == before, "a refused input changed or created files"
        return caught.value

    return check


@pytest.fixture(scope="session")
def llama():
    """The tiny LLaMA model (shared; never mutate it)."""
    return models.tiny_llama()


@pytest.fixture(scope="session")
def gpt2():
    """The tiny GPT-2 model (shared; never mutate it)."""
    return models.tiny_gpt2()


@pytest.fixture(scope="session")
def bert():
    """The tiny BertModel (shared; never mutate it)."""
    return models.tiny_bert()


@pytest.fixture(scope="session")
def llama_dir(llama, tmp_path_factory) -> Path:
    """The tiny LLaMA saved as a HF folder (config.json + model.safetensors)."""
    return models.save_model(llama, tmp_path_factory.mktemp("llama") / "base")


@pytest.fixture(scope="session")
def llama_adapter(llama, tmp_path_factory) -> models.AdapterArtifact:
    """A plain LoRA adapter (r=4, alpha=8) on every linear layer of the tiny LLaMA."""
    from peft import LoraConfig

    config = LoraConfig(r=4, lora_alpha=8, target_modules=models.LINEAR_TARGETS["llama"])
    return models.make_adapter(llama, tmp_path_factory.mktemp("llama_adapter") / "adapter", config)
