"""Language-model loss on held-out text: causal next-token cross-entropy, and the masked-LM pseudo-loss.

Causal, rolling (the default; lm-evaluation-harness's `loglikelihood_rolling`): each document, tokenised
without special tokens, is scored on its own in windows of at most `max_length` tokens. The first
window reads a prefix token (BOS when the tokenizer has one, else EOS, as the harness's
`prefix_token_id`) and the document's first max_length - 1 tokens, and scores all its first
min(max_length, n) tokens; each following window reads the max_length tokens that precede its end and
scores only the tokens not scored yet. Every token of a document is scored exactly once, with as much
of its own document as context as fits, and never with another document's text.

Causal, stream (the earlier definition, kept as an option): documents are joined with EOS after each
one and the stream is cut into chunks of `length` tokens. If the model's tokenizer puts BOS in front of
its inputs, each chunk is BOS + (length - 1) stream tokens. Either way every chunk scores length - 1
targets, and each target belongs to the document of its token (an EOS to the document it closes).

Both are `Chunks`: token sequences whose last len(target_docs[c]) tokens are scored, each predicted by
the model reading the sequence before it (the model reads sequence[:-1]).

Masked (Salazar et al. 2020): each document is cut into pieces of at most length - 2 tokens, framed
as [CLS] piece [SEP]; every piece token is masked in its own copy (copies are batched) and scored by
-log P(token | the rest). The pseudo-loss is the mean over all scored tokens.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from lorascope.errors import InputError

WINDOW_TOKENS = 8192  # tokens per forward pass of the causal loss, whatever the batch size
LOGIT_TOKENS = 256  # scored positions whose logits are held at once (a row is vocab floats: 1 MiB for Gemma-3)


@dataclass(frozen=True)
class Chunks:
    """Fixed-length token chunks of a document stream and, per target, the document it belongs to."""

    input_ids: list[list[int]]  # token sequences; the last len(target_docs[c]) tokens of each are scored
    target_docs: list[list[int]]  # per chunk, the document of each scored token (at most len - 1 of them)
    n_docs: int

    @property
    def tokens(self) -> int:
        return sum(len(t) for t in self.target_docs)

    @property
    def model_inputs(self) -> list[list[int]]:
        """What the model reads of each chunk: all but its last token (whose prediction is never used)."""
        return [ids[:-1] for ids in self.input_ids]


@dataclass(frozen=True)
class LossResult:
    """Mean loss over all scored tokens, the count, and per-document sums and counts."""

    loss: float
    tokens: int
    doc_loss_sum: list[float] = field(repr=False)
    doc_tokens: list[int] = field(repr=False)

    @property
    def perplexity(self) -> float:
        """exp(loss): the token-weighted perplexity of the text."""
        return math.exp(self.loss) if self.tokens else float("nan")

    def document_losses(self) -> list[float | None]:
        """Mean loss of each document (None for a document with no scored token)."""
        return [s / n if n else None for s, n in zip(self.doc_loss_sum, self.doc_tokens, strict=True)]


def needs_bos(tokenizer) -> bool:
    """Whether the tokenizer puts its BOS token in front of plain text (then the model expects it)."""
    bos = tokenizer.bos_token_id
    if bos is None:
        return False
    ids = tokenizer("a")["input_ids"]
    return bool(ids) and ids[0] == bos


def tokenize_documents(tokenizer, docs: list[str]) -> list[list[int]]:
    """Token ids of each document, without special tokens."""
    if not docs:
        return []
    return [list(map(int, ids)) for ids in tokenizer(docs, add_special_tokens=False)["input_ids"]]


def causal_chunks(doc_ids: list[list[int]], length: int, eos_id: int | None, bos_id: int | None = None,
                  max_chunks: int | None = None) -> Chunks:
    """Cut the EOS-joined stream into chunks (BOS-prefixed when `bos_id` is given); see the module doc."""
    stream: list[int] = []
    owner: list[int] = []
    for d, ids in enumerate(doc_ids):
        stream.extend(ids)
        owner.extend([d] * len(ids))
        if eos_id is not None:
            stream.append(eos_id)
            owner.append(d)
    step = length - 1 if bos_id is not None else length
    inputs, targets = [], []
    for start in range(0, len(stream), step):
        if max_chunks is not None and len(inputs) >= max_chunks:
            break
        piece, who = stream[start:start + step], owner[start:start + step]
        if bos_id is not None:
            inputs.append([bos_id, *piece])
            targets.append(who)
        elif len(piece) >= 2:
            inputs.append(piece)
            targets.append(who[1:])
    return Chunks(inputs, targets, len(doc_ids))


def prefix_token(tokenizer) -> int:
    """The token the first rolling window starts with: BOS when the tokenizer has one, else EOS (the
    harness's `prefix_token_id`); a tokenizer that adds BOS to plain text (Gemma, LLaMA) gets its BOS."""
    for token in (tokenizer.bos_token_id, tokenizer.eos_token_id):
        if token is not None:
            return int(token)
    raise InputError("rolling LM loss needs a BOS or EOS token to start each document; the tokenizer has neither")


def rolling_windows(tokens: list[int], prefix: int, max_length: int) -> list[tuple[list[int], int]]:
    """(sequence, scored) per window of one document, as the harness's rolling windows with context 1:
    the model reads sequence[:-1] (at most `max_length` tokens) and its last `scored` tokens are scored."""
    if max_length < 1:
        raise InputError(f"rolling window length must be ≥ 1; got {max_length!r}")
    n = len(tokens)
    if n == 0:
        return []
    first = min(max_length, n)
    windows = [([prefix, *tokens[:first]], first)]
    done = first
    while done < n:
        scored = min(n - done, max_length)
        end = done + scored
        windows.append((tokens[end - max_length - 1:end], scored))
        done = end
    return windows


def rolling_chunks(doc_ids: list[list[int]], max_length: int, prefix: int) -> Chunks:
    """Every document's rolling windows (see the module doc), in document order."""
    inputs, targets = [], []
    for d, ids in enumerate(doc_ids):
        for sequence, scored in rolling_windows(ids, prefix, max_length):
            inputs.append(sequence)
            targets.append([d] * scored)
    return Chunks(inputs, targets, len(doc_ids))


def context_length(config) -> int:
    """The model's context length from its config (n_positions / max_position_embeddings / n_ctx), as the
    harness takes it; 2048 when the config names none."""
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    for name in ("n_positions", "max_position_embeddings", "n_ctx"):
        value = getattr(text_config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


def documents_for_tokens(tokenizer, docs: list[str], tokens: int, seed: int) -> list[list[int]]:
    """Token ids of documents taken in a fixed shuffled order (seeded) until they hold `tokens` tokens."""
    import random

    order = list(range(len(docs)))
    random.Random(seed).shuffle(order)
    picked, total = [], 0
    for start in range(0, len(order), 32):
        batch = [docs[i] for i in order[start:start + 32]]
        for ids in tokenize_documents(tokenizer, batch):
            picked.append(ids)
            total += len(ids) + 1
            if total >= tokens:
                return picked
    return picked


def causal_batches(chunks: Chunks, batch_size: int) -> list[list[int]]:
    """Chunk indices of each forward of `causal_loss`: equal-length chunks together, at most `batch_size` of
    them and WINDOW_TOKENS tokens (a longer window goes alone), shortest chunks first."""
    by_length: dict[int, list[int]] = {}
    for c, ids in enumerate(chunks.input_ids):
        by_length.setdefault(len(ids), []).append(c)
    batches = []
    for length, members in sorted(by_length.items()):
        rows = max(1, min(batch_size, WINDOW_TOKENS // length))
        batches.extend(members[b:b + rows] for b in range(0, len(members), rows))
    return batches


def token_nll(head: Callable[[torch.Tensor], torch.Tensor], states: torch.Tensor, targets: torch.Tensor,
              logit_tokens: int = LOGIT_TOKENS) -> torch.Tensor:
    """(N,) float64 -log P(targets[i] | states[i]) for final hidden states (N, hidden), the head's logits taken
    `logit_tokens` positions at a time: a few vocab-long rows are held at once, never N of them."""
    if logit_tokens < 1:
        raise InputError(f"logit_tokens must be ≥ 1; got {logit_tokens!r}")
    nll = torch.empty(len(targets), dtype=torch.float64)
    for start in range(0, len(targets), logit_tokens):
        end = start + logit_tokens
        logits = head(states[start:end]).float()
        nll[start:end] = F.cross_entropy(logits, targets[start:end], reduction="none").double()
    return nll


@torch.no_grad()
def causal_loss(hidden_of: Callable[[torch.Tensor, list[int]], torch.Tensor],
                head: Callable[[torch.Tensor], torch.Tensor], chunks: Chunks, batch_size: int = 8,
                logit_tokens: int = LOGIT_TOKENS) -> LossResult:
    """Mean next-token cross-entropy over every chunk target (the last len(target_docs[c]) tokens of chunk c).

    `hidden_of(input_ids (B, L), chunk_indices)` gives the (B, L, hidden) final hidden states of the chunks'
    model inputs (all but their last token) and `head(states (N, hidden))` their (N, vocab) logits, as the
    model's own forward computes them. Equal-length chunks are batched, at most `batch_size` of them and at
    most WINDOW_TOKENS tokens per forward; only scored positions reach the head, `logit_tokens` at a time, so
    a 32,768-token window of a 262,144-token vocabulary (Gemma-3) never holds its L × vocab logits.
    """
    sums = [0.0] * chunks.n_docs
    counts = [0] * chunks.n_docs
    total, n = 0.0, 0
    for idx in causal_batches(chunks, batch_size):
        ids = torch.tensor([chunks.input_ids[c] for c in idx], dtype=torch.long)
        hidden = hidden_of(ids[:, :-1], idx)
        width = ids.shape[1] - 1
        if hidden.shape[:2] != (len(idx), width):
            raise ValueError(f"hidden_of gave states of shape {tuple(hidden.shape)} for inputs {(len(idx), width)}")
        scored = [len(chunks.target_docs[c]) for c in idx]
        states = torch.cat([hidden[row, width - s:] for row, s in enumerate(scored)])
        targets = torch.cat([ids[row, 1 + width - s:] for row, s in enumerate(scored)])
        nll = token_nll(head, states, targets, logit_tokens)
        offset = 0
        for c, s in zip(idx, scored, strict=True):
            values = nll[offset:offset + s].tolist()
            offset += s
            for value, d in zip(values, chunks.target_docs[c], strict=True):
                sums[d] += value
                counts[d] += 1
            total += sum(values)
            n += len(values)
    return LossResult(total / n if n else float("nan"), n, sums, counts)


@torch.no_grad()
def pseudo_loss(logits_of: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], doc_ids: list[list[int]],
                cls_id: int, sep_id: int, mask_id: int, length: int = 128,
                batch_size: int = 64) -> LossResult:
    """Salazar et al.'s pseudo-loss: mean over tokens of -log P(token | document with it masked).

    `logits_of(input_ids (B, T), attention_mask (B, T))` returns (B, T, vocab) MLM logits.
    """
    sums = [0.0] * len(doc_ids)
    counts = [0] * len(doc_ids)
    body = length - 2
    for d, ids in enumerate(doc_ids):
        for start in range(0, len(ids), body):
            piece = ids[start:start + body]
            seq = torch.tensor([cls_id, *piece, sep_id], dtype=torch.long)
            positions = torch.arange(1, len(piece) + 1)
            for b in range(0, len(positions), batch_size):
                pos = positions[b:b + batch_size]
                batch = seq.repeat(len(pos), 1)
                batch[torch.arange(len(pos)), pos] = mask_id
                logits = logits_of(batch, torch.ones_like(batch)).float()
                logp = F.log_softmax(logits[torch.arange(len(pos)), pos], dim=-1)
                nll = -logp[torch.arange(len(pos)), seq[pos]].double()
                sums[d] += float(nll.sum())
                counts[d] += len(pos)
    n = sum(counts)
    return LossResult(sum(sums) / n if n else float("nan"), n, sums, counts)
