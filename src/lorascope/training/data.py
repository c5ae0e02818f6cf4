"""Token ids, seeded batch orders and padding: plain lists and tensors, no data-loader machinery."""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Encoded:
    """Examples as token-id lists (special tokens included, truncated) with their labels."""

    ids: list[list[int]]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.ids)

    def fingerprint(self) -> str:
        """A hash of every token id and label: the data exactly (tokenizer and truncation included)."""
        h = hashlib.sha256()
        for seq, label in zip(self.ids, self.labels, strict=True):
            h.update(f"{label}:{','.join(map(str, seq))};".encode())
        return h.hexdigest()


def encode(tokenizer, rows: list[tuple[str, int]], max_length: int) -> Encoded:
    """Tokenise (text, label) rows with the tokenizer's own special tokens, truncated to `max_length`."""
    texts = [text for text, _ in rows]
    ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"] if texts else []
    return Encoded([list(map(int, seq)) for seq in ids], [int(label) for _, label in rows])


def take_subset(rows: list, n: int | None, seed: int = 0) -> list:
    """The first `n` rows of a fixed shuffle of `rows` (all of them, in order, when n is None)."""
    if n is None or n >= len(rows):
        return list(rows)
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    return [rows[i] for i in order[:n]]


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Indices of each batch of `epoch`: a permutation fixed by (seed, epoch); drops a partial last batch."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n, generator=generator).tolist()
    return [order[i:i + batch_size] for i in range(0, n - batch_size + 1, batch_size)]


def pad_right(seqs: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), both (B, longest), padded on the right with `pad_id`."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for row, seq in enumerate(seqs):
        ids[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, :len(seq)] = 1
    return ids, mask
