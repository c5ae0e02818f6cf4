"""GGUF → safetensors, once: transformers dequantises a GGUF model, we save a clean fp32 copy and reuse it."""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from lorascope.errors import InputError

DONE_MARKER = "lorascope-converted.json"


def gguf_to_safetensors(gguf_file: Path, out_dir: Path, log: Callable[[str], None] | None = None) -> Path:
    """Convert `gguf_file` into the HF model directory `out_dir` (atomic rename; skipped if already done)."""
    import json

    out_dir = Path(out_dir)
    if (out_dir / DONE_MARKER).is_file():
        return out_dir
    if not gguf_file.is_file():
        raise InputError(f"{gguf_file}: GGUF file not found")
    from filelock import FileLock

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(out_dir) + ".lock"):
        if (out_dir / DONE_MARKER).is_file():
            return out_dir
        if log is not None:
            log(f"converting {gguf_file.name} to safetensors in {out_dir} (once, about a minute)")
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
        try:
            _convert(gguf_file, tmp)
            (tmp / DONE_MARKER).write_text(json.dumps({"source": str(gguf_file),
                                                       "bytes": gguf_file.stat().st_size}))
            if out_dir.exists():
                shutil.rmtree(out_dir)
            tmp.rename(out_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return out_dir


def _convert(gguf_file: Path, out_dir: Path) -> None:
    try:
        import gguf  # noqa: F401
    except ImportError:
        raise InputError("reading GGUF needs the gguf package; run: pip install gguf==0.19.0") from None
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from lorascope.training.modeling import quiet_transformers

    folder, name = str(gguf_file.parent), gguf_file.name
    # transformers' GGUF reader draws a plain tqdm bar on stderr: library code prints nothing.
    with quiet_transformers(), contextlib.redirect_stderr(io.StringIO()):
        with _one_reader_per_file():  # the parsed header is dropped before the clean copy doubles the weights
            tok = AutoTokenizer.from_pretrained(folder, gguf_file=name)
            quantised = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
        config = quantised.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        clean = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        clean.load_state_dict(quantised.state_dict(), strict=True)
        del quantised
        clean.save_pretrained(out_dir)
        tok.save_pretrained(out_dir)


@contextlib.contextmanager
def _one_reader_per_file() -> Iterator[None]:
    """Within the block, every `gguf.GGUFReader` of one file is one reader.

    transformers parses the GGUF header once for the tokenizer, once for the config and once for the tensors;
    for Gemma's 262k-token vocabulary each parse is most of a conversion. The reader is a read-only memory map,
    so sharing it changes no value (tests/training compare a converted tiny Gemma 3 with its original).
    """
    import gguf

    original = gguf.GGUFReader
    readers: dict[tuple[str, str], Any] = {}

    def shared(path: str | Path, mode: str = "r") -> Any:
        key = (str(Path(path).resolve()), mode)
        if key not in readers:
            readers[key] = original(path, mode)
        return readers[key]

    gguf.GGUFReader = shared
    try:
        yield
    finally:
        gguf.GGUFReader = original
