"""The settings of one training run, as data: a frozen dataclass, validated on creation."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from lorascope.datafiles import DataSpec
from lorascope.errors import InputError

# The paper keeps the "total LoRA learning rate" alpha * lr fixed across ranks (PAPER.md §2.1): with
# alpha = 2r that gives lr = 1.5e-4 at r = 8. Full fine-tuning uses the paper's 1e-5.
LORA_LR_PRODUCT = 2.4e-3
FULL_LR = 1e-5


def parse_train_layers(spec: str) -> int | None:
    """`"all"` -> None (every block trains); `"top:N"` -> N (only the top N blocks train)."""
    text = spec.strip().lower()
    if text == "all":
        return None
    head, _, count = text.partition(":")
    if head == "top" and count.isdigit() and int(count) >= 1:
        return int(count)
    raise InputError(f"train_layers must be 'all' or 'top:N' with N ≥ 1; got {spec!r}")


@dataclass(frozen=True)
class TrainConfig:
    """What to train, on what, and how; every field is also a `lorascope train` option."""

    model: str = field(default="smollm2", metadata={
        "help": "smollm2 | gemma3-270m | minilm | a HF model directory | a Hub id (org/name, org/name@revision)"})
    task: str = field(default="rt_polarity", metadata={
        "help": "rt_polarity | bbc_topic | hoc_party | debate_party | health_source"})
    method: Literal["lora", "full"] = field(default="lora", metadata={"help": "lora | full"})
    rank: int = field(default=8, metadata={"help": "LoRA rank r"})
    alpha: float | None = field(default=None, metadata={"help": "LoRA alpha (default 2r)"})
    lr: float | None = field(default=None, metadata={
        "help": "learning rate (default: LoRA lora_lr_product/alpha, 1.5e-4 at r=8; full 1e-5)"})
    lora_lr_product: float = field(default=LORA_LR_PRODUCT, metadata={
        "help": "the constant alpha*lr of the paper's LoRA rule, used when lr is not given"})
    epochs: int = field(default=1, metadata={"help": "passes over the training data"})
    max_steps: int | None = field(default=None, metadata={
        "help": "stop after this many steps (overrides epochs)"})
    batch_size: int = field(default=16, metadata={"help": "examples per optimiser step"})
    max_length: int = field(default=128, metadata={"help": "tokens per example (longer texts are truncated)"})
    seed: int = field(default=0, metadata={"help": "seed of the head/LoRA initialisation and the data order"})
    train_layers: str = field(default="all", metadata={
        "help": "'all', or 'top:N': train only the top N blocks, caching the frozen bottom's output"})
    cache_bottom: bool = field(default=True, metadata={
        "help": "with top:N, run the frozen bottom once per example and reuse its output"})
    eval_every: int | None = field(default=None, metadata={"help": "also evaluate every N steps"})
    save_every: int = field(default=50, metadata={"help": "save the resumable state every N steps"})
    warmup: float = field(default=0.06, metadata={"help": "linear warm-up, as a fraction of all steps"})
    train_examples: int | None = field(default=None, metadata={
        "help": "train on the first N examples of a fixed shuffle of the training split"})
    test_examples: int | None = field(default=None, metadata={"help": "score the first N test examples"})
    forget_chunks: int = field(default=32, metadata={
        "help": "size of the forgetting text, in chunks of forget_chunk_length tokens: rolling scores whole "
                "documents until they hold that many tokens, stream that many chunks (0: no forgetting)"})
    forget_chunk_length: int = field(default=128, metadata={
        "help": "tokens per forgetting chunk (the unit of forget_chunks; the chunk itself in stream mode)"})
    k: int = field(default=10, metadata={"help": "top singular vectors examined per matrix"})
    epsilon: float = field(default=0.5, metadata={"help": "intruder iff max |cos| to the base < epsilon"})
    eval_batch_size: int = field(default=32, metadata={"help": "examples per forward pass when evaluating"})
    threads: int | None = field(default=None, metadata={"help": "torch CPU threads (default: torch's)"})
    freeze_a: bool = field(default=False, metadata={
        "help": "LoRA: A is a random semi-orthogonal matrix (all singular values 1), frozen; only B trains"})
    data: str | None = field(default=None, metadata={
        "help": "your own training data instead of a registered task: .csv, .tsv, .jsonl or .parquet"})
    test_data: str | None = field(default=None, metadata={
        "help": "held-out data in the same layout (default: a seeded test_fraction of --data)"})
    test_fraction: float = field(default=0.1, metadata={
        "help": "share of --data held out for testing when no --test-data is given"})
    split_seed: int = field(default=0, metadata={"help": "seed of the shuffle that draws the held-out rows"})
    text_column: str = field(default="text", metadata={"help": "column of --data holding the text"})
    label_column: str = field(default="label", metadata={
        "help": "column of --data holding the label (strings or integers; not read for --objective lm)"})
    objective: Literal["classify", "lm"] = field(default="classify", metadata={
        "help": "classify: a classifier head on the labels (quality: accuracy); lm: next-token training of "
                "the causal LM on the texts (quality: held-out task loss and perplexity)"})
    forget_text: str | None = field(default=None, metadata={
        "help": "held-out text for forgetting: plain text, one document per line, or JSONL/CSV/Parquet with "
                "a text column (default: the bundled news articles)"})
    forget_text_column: str = field(default="text", metadata={"help": "column of a tabular --forget-text"})
    forget_mode: Literal["rolling", "stream"] = field(default="rolling", metadata={
        "help": "rolling: each document on its own in windows of the context length (lm-evaluation-harness); "
                "stream: EOS-joined documents in forget_chunk_length chunks"})
    forget_context: int | None = field(default=None, metadata={
        "help": "rolling window of the forgetting text, in tokens (default: the model's context length)"})

    def __post_init__(self) -> None:
        if self.method not in ("lora", "full"):
            raise InputError(f"method must be 'lora' or 'full'; got {self.method!r}")
        _positive_int("rank", self.rank)
        _positive_int("epochs", self.epochs)
        _positive_int("batch_size", self.batch_size)
        _positive_int("max_length", self.max_length)
        _positive_int("save_every", self.save_every)
        _positive_int("forget_chunk_length", self.forget_chunk_length, minimum=2)
        _positive_int("k", self.k)
        _positive_int("eval_batch_size", self.eval_batch_size)
        _positive_int("forget_chunks", self.forget_chunks, minimum=0)
        for name in ("max_steps", "eval_every", "train_examples", "test_examples", "threads"):
            if getattr(self, name) is not None:
                _positive_int(name, getattr(self, name))
        for name in ("alpha", "lr", "lora_lr_product"):
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and math.isfinite(value) and value > 0
            if value is not None and not ok:
                raise InputError(f"{name} must be a positive number; got {value!r}")
        if not 0 <= self.warmup < 1:
            raise InputError(f"warmup must be in [0, 1); got {self.warmup!r}")
        if not 0 < self.epsilon <= 1:
            raise InputError(f"epsilon must be in (0, 1]; got {self.epsilon!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise InputError(f"seed must be an integer ≥ 0; got {self.seed!r}")
        parse_train_layers(self.train_layers)
        if not isinstance(self.freeze_a, bool):
            raise InputError(f"freeze_a must be true or false; got {self.freeze_a!r}")
        if self.freeze_a and self.method != "lora":
            raise InputError("freeze_a applies to LoRA only (method = 'lora')")
        if self.objective not in ("classify", "lm"):
            raise InputError(f"objective must be 'classify' or 'lm'; got {self.objective!r}")
        if self.forget_mode not in ("rolling", "stream"):
            raise InputError(f"forget_mode must be 'rolling' or 'stream'; got {self.forget_mode!r}")
        if self.forget_context is not None:
            _positive_int("forget_context", self.forget_context, minimum=2)
        if self.test_data is not None and self.data is None:
            raise InputError("test_data needs data (the training file) too")
        for name in ("data", "test_data", "forget_text"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise InputError(f"{name} must be a file path; got {value!r}")
        self.data_spec  # noqa: B018 - validates the data settings (fraction, seed, columns)

    @property
    def resolved_alpha(self) -> float | None:
        """LoRA's alpha (2r unless given); None for full fine-tuning."""
        if self.method != "lora":
            return None
        return float(self.alpha) if self.alpha is not None else 2.0 * self.rank

    @property
    def resolved_lr(self) -> float:
        """The learning rate: given, else the paper's rule (LoRA: lora_lr_product / alpha; full: 1e-5)."""
        if self.lr is not None:
            return float(self.lr)
        if self.method == "lora":
            return self.lora_lr_product / self.resolved_alpha
        return FULL_LR

    @property
    def top_layers(self) -> int | None:
        """N of 'top:N', or None when every block trains."""
        return parse_train_layers(self.train_layers)

    @property
    def data_spec(self) -> DataSpec | None:
        """The data files' settings as a DataSpec (None when the task is a registered one)."""
        if self.data is None:
            return None
        return DataSpec(train=self.data, test=self.test_data, test_fraction=self.test_fraction,
                        split_seed=self.split_seed, text_column=self.text_column, label_column=self.label_column)

    @property
    def task_name(self) -> str:
        """The task's name in run ids and rows: the data file's stem, or the registered task."""
        spec = self.data_spec
        return spec.name if spec is not None else self.task

    def to_json(self) -> dict[str, Any]:
        """The fields plus the resolved alpha and learning rate (freeze_a only when set, so that the ids of
        runs made before it existed stay the same; the data-file settings only with data; the forgetting
        text's column only with forget_text)."""
        settings = asdict(self)
        if not self.freeze_a:
            del settings["freeze_a"]
        if self.data is None:
            for name in ("data", "test_data", "test_fraction", "split_seed", "text_column", "label_column"):
                del settings[name]
        else:
            del settings["task"]  # the data files name the task
        if self.forget_text is None:
            del settings["forget_text_column"]
        return {**settings, "resolved_alpha": self.resolved_alpha, "resolved_lr": self.resolved_lr}


def _positive_int(name: str, value: object, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InputError(f"{name} must be an integer ≥ {minimum}; got {value!r}")
