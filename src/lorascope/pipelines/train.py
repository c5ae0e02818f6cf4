"""`train`: fine-tune a pretrained model on a task, measuring what it costs as it goes.

The task is a registered one (`task`) or the user's own files (`data`, lorascope.datafiles). The
objective is classification (a sequence classifier with a fresh head; quality = test accuracy) or
`lm`: next-token training of the causal LM itself on the texts (quality = the held-out task loss,
with its perplexity; lorascope.training.lm_task).

The recipe (PAPER.md §2.1, on a CPU budget): LoRA on every linear matrix of attention and MLP (PEFT
defaults otherwise), or full fine-tuning of the same matrices; embeddings, norms and biases frozen;
the task head always trained; AdamW without weight decay, linear schedule with 6% warm-up; a seeded
shuffle per epoch; the test split is never trained on.

At step 0, at the end of every epoch, every `eval_every` steps and at the last step it records the
task quality, forgetting (LM loss of the base LM head on the tuned backbone, or of the tuned causal LM
itself, minus the base model's, on held-out text: the bundled news or `forget_text`, scored as
lorascope.pipelines.forget defines) and intruder dimensions of the trained matrices against the base (base spectra
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
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F

from lorascope._version import __version__
from lorascope.atomic import atomic_write_text, check_out_folder
from lorascope.cache import cache_root
from lorascope.datafiles import load_data_task
from lorascope.datasets import TextTask
from lorascope.errors import InputError
from lorascope.folder_lock import folder_lock
from lorascope.index import index_layout, kept_spectrum
from lorascope.pipelines.forget import DEFAULT_TEXT, ForgetOptions, ForgetText, forget_text
from lorascope.pipelines.memory_guard import check_train_memory
from lorascope.pipelines.quality import QUALITY_METRIC, Quality, QualityScorer
from lorascope.training.bottom import (
    cache_key,
    compute_hidden,
    load_or_compute,
    load_or_compute_number,
    load_or_compute_record,
    model_fingerprint,
)
from lorascope.training.config import TrainConfig
from lorascope.training.data import Encoded, encode, epoch_batches, take_subset
from lorascope.training.lm import context_length, needs_bos
from lorascope.training.lm_task import TokenLossRunner, build_causal_lm
from lorascope.training.modeling import (
    Classifier,
    attach_backbone,
    build_classifier,
    clean_name,
    lm_kind,
    load_lm,
    load_tokenizer,
    quiet_transformers,
)
from lorascope.training.optim import adamw, linear_schedule
from lorascope.training.probe import IntruderProbe
from lorascope.training.registry import load_task, resolve_model
from lorascope.training.rows import ResultRow, ResultsLog
from lorascope.training.runners import ExampleRunner
from lorascope.training.state import Position, latest_state, load_state, save_state
from lorascope.weights.source import hub_id_of

FORGET_TEXT = DEFAULT_TEXT
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
    return f"{config.task_name}-{model}-{config.method}{rank}-lr{config.resolved_lr:.3g}-s{config.seed}-{digest}"


def train(config: TrainConfig, out: str | Path, *, progress: Callable[[TrainEvent], None] | None = None,
          task: TextTask | None = None, cache_dir: str | Path | None = None,
          stop_after: int | None = None) -> TrainResult:
    """Run (or resume) the training run `config` in folder `out`; see the module docstring and `_train`.

    One process at a time per `out` (lorascope.folder_lock): a second one says so, waits, then resumes.
    """
    emit = progress or (lambda event: None)
    with folder_lock(out, "train", lambda message: emit(TrainEvent("info", message=message))):
        return _train(config, out, progress=progress, task=task, cache_dir=cache_dir, stop_after=stop_after)


def _train(config: TrainConfig, out: str | Path, *, progress: Callable[[TrainEvent], None] | None = None,
           task: TextTask | None = None, cache_dir: str | Path | None = None,
           stop_after: int | None = None) -> TrainResult:
    """Run (or resume) the training run `config` in folder `out`, its folder lock held.

    `task` replaces the registered task or data files (its name is recorded). `stop_after` ends the session
    right after that step without any further write, as a kill would (for tests of resumption).
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    emit = progress or (lambda event: None)
    session_start = time.perf_counter()
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    out = Path(out)
    check_out_folder(out)
    if task is not None:
        config = replace(config, task=task.name, data=None)
    if config.forget_text is not None and config.forget_chunks and not Path(config.forget_text).is_file():
        raise InputError(f"--forget-text {config.forget_text}: not a file")
    task = task or load_run_task(config)
    model_dir = resolve_model(config.model, cache_dir, log=lambda m: emit(TrainEvent("info", message=m)))
    lm_objective = config.objective == "lm"
    if lm_objective and lm_kind(model_dir) != "causal":
        raise InputError(f"objective lm: {model_dir} is not a causal LM (it has no next-token head)")

    finished = _finished(out, config, task, model_dir)
    if finished is not None:
        step = finished.final["step"]
        emit(TrainEvent("info", step=step, total=step, message=f"finished before (step {step}): rows read back"))
        emit(TrainEvent("done", step=step, total=step, seconds=finished.final["seconds"], row=finished.final))
        return finished
    if lm_objective:
        clf = build_causal_lm(model_dir, config.method, config.rank, config.resolved_alpha, config.top_layers,
                              config.seed, freeze_a=config.freeze_a)
    else:
        clf = build_classifier(model_dir, len(task.labels), config.method, config.rank, config.resolved_alpha,
                               config.top_layers, config.seed, freeze_a=config.freeze_a)
    hub = hub_id_of(config.model)
    if hub is not None and hasattr(clf.model, "peft_config"):  # the adapter names its base as PEFT would have
        for peft_config in clf.model.peft_config.values():
            peft_config.base_model_name_or_path, peft_config.revision = hub.repo_id, hub.revision
    pool, train_data, quality = _run_data(clf.tokenizer, task, config)
    test_data = quality.data
    steps_per_epoch = len(train_data) // config.batch_size
    if steps_per_epoch == 0:
        raise InputError(f"{len(train_data)} training examples cannot fill one batch of {config.batch_size}")
    total = config.max_steps or config.epochs * steps_per_epoch
    run_id = run_id_of(config)

    kind = lm_kind(model_dir) if config.forget_chunks else None
    cached = config.top_layers is not None and config.cache_bottom
    lm = held_out = None
    if kind is not None:  # the LM scored for forgetting: the tuned causal LM, or the base head on the tuned backbone
        lm = clf.model if lm_objective else attach_backbone(load_lm(model_dir, kind), clf.model)
        options = ForgetOptions(chunks=config.forget_chunks, chunk_length=config.forget_chunk_length,
                                mode=config.forget_mode, context=config.forget_context,
                                text_column=config.forget_text_column)
        held_out = forget_text(clf.tokenizer, kind, config.forget_text, options,
                               context_length(clf.unwrapped().config))
    lm_info = _lm_info(kind, clf.tokenizer, config, held_out)
    run_config = {
        "run_id": run_id, "config": config.to_json(), "model_dir": str(model_dir),
        "task": {"name": task.name, "labels": list(task.labels), "objective": config.objective,
                 "quality_metric": QUALITY_METRIC[config.objective], "train_examples": len(train_data),
                 "test_examples": len(test_data), "train_rows_dropped_as_test_duplicates":
                     len(task.train) - len(pool),
                 "fingerprints": {"train": train_data.fingerprint(), "test": test_data.fingerprint()}},
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
    check_train_memory(clf, config, train_data, test_data, lm=lm, held_out=held_out, cached=cached)
    out.mkdir(parents=True, exist_ok=True)
    _check_or_write_config(out / "config.json", run_config)

    fp = model_fingerprint(model_dir) if cached else ""
    root = cache_root(cache_dir) / "hidden"
    scorer = None
    base_loss_key = None  # the base model's LM loss on this text, kept for every run of the base (step 0)
    if held_out is not None:
        scorer = _scorer(lm, held_out, clf, config, cached, fp, root, emit)
        if cached and held_out.chunks is not None:
            base_loss_key = base_loss_key_of(fp, held_out, clf.first_trained, config.forget_chunk_length)

    train_cache = test_cache = None
    if cached:
        run = lambda ids, mask: clf.model(input_ids=ids, attention_mask=mask)  # noqa: E731
        train_cache, test_cache = (
            _cached(root, fp, data, clf, config, run, name, emit)
            for data, name in ((train_data, "training"), (test_data, "test")))
    start = clf.first_trained
    runner_class = TokenLossRunner if lm_objective else ExampleRunner
    train_runner = runner_class(clf.model, train_data, clf.pad_id, clf.blocks, start, train_cache)

    not_kept: list[str] = []  # why the base index could not keep a spectrum (the probe's spectra are right anyway)
    layout = index_layout(cache_dir)
    probe = IntruderProbe(clf.model, clf.matrices, k=config.k, epsilon=config.epsilon,
                          spectra=lambda W0: kept_spectrum(W0, layout, not_kept, __version__))
    for note in not_kept:
        emit(TrainEvent("info", message=note))
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
            untrained = (untrained_quality_key(fp, quality, start, clf)
                         if position.step == 0 and cached and probe.all_unchanged(clf.model) else None)
            if untrained is not None:  # still the base under a fresh head: runs of the same head share it
                measured = Quality(**load_or_compute_record(
                    root, untrained, lambda: asdict(quality.measure(clf.model, clf.blocks, start, test_cache)),
                    required=tuple(f.name for f in fields(Quality))))
            else:
                measured = quality.measure(clf.model, clf.blocks, start, test_cache)
            if scorer is None:
                lm_loss = None
            elif position.step == 0 and base_loss_key is not None:  # the model is still the base itself
                lm_loss = load_or_compute_number(root, base_loss_key, lambda: scorer().loss)
            else:
                lm_loss = scorer().loss
            probes = probe.measure(clf.model)
            clf.train_mode()
        if position.step == 0:
            base_loss = lm_loss
        checkpoint = _save_checkpoint(clf, out, position.step) if position.step > 0 else None
        row = ResultRow(
            run_id=run_id, method=config.method, rank=config.rank if config.method == "lora" else None,
            alpha=config.resolved_alpha, lr=config.resolved_lr, seed=config.seed, task=task.name,
            model=config.model, train_layers=config.train_layers, step=position.step,
            epoch=round(position.step / steps_per_epoch, 6), quality_metric=measured.metric,
            accuracy=measured.accuracy, task_loss=measured.task_loss, task_perplexity=measured.task_perplexity,
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
        if lm_objective:
            loss = train_runner.loss(idx)
        else:
            loss = F.cross_entropy(train_runner.logits(idx), train_runner.labels(idx))
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


def _run_data(tokenizer, task: TextTask, config: TrainConfig) -> tuple[list, Encoded, QualityScorer]:
    """The run's training pool (no test text in it), its encoded training subset and the test-split scorer."""
    test_texts = {text for text, _ in task.test}
    pool = [row for row in task.train if row[0] not in test_texts]  # a test text is never trained on
    train_data = encode(tokenizer, take_subset(pool, config.train_examples), config.max_length)
    if len(task.test[:config.test_examples]) == 0:
        raise InputError(f"task {task.name}: no test examples")
    quality = QualityScorer(tokenizer, task, config.objective, config.max_length, config.eval_batch_size,
                            config.test_examples)
    return pool, train_data, quality


def _finished(out: Path, config: TrainConfig, task: TextTask, model_dir: Path) -> TrainResult | None:
    """The run `out` holds when it already ended with exactly these settings and data (its last state, last row
    and final checkpoint all at the last step), read back without building the model: how one recipe reuses
    another's run. None: train, resume or refuse as usual."""
    path = out / "config.json"
    if not path.is_file():
        return None
    old = json.loads(path.read_text())
    rows = ResultsLog(out / "results.jsonl").rows
    state = latest_state(out / "state")
    total = old.get("total_steps")
    if (old.get("run_id") != run_id_of(config) or _differing(old.get("config", {}), config.to_json())
            or not rows or rows[-1]["step"] != total or state is None or state.name != f"step-{total:08d}"
            or not rows[-1].get("checkpoint") or not (out / rows[-1]["checkpoint"]).is_dir()):
        return None
    _, train_data, quality = _run_data(load_tokenizer(model_dir), task, config)
    if old.get("task", {}).get("fingerprints") != {"train": train_data.fingerprint(),
                                                   "test": quality.data.fingerprint()}:
        return None
    return TrainResult(out, old["run_id"], rows, stopped=False)


def _differing(old: dict, new: dict) -> list[str]:
    """Result-relevant settings that differ between two runs' configs."""
    a = {k: v for k, v in old.items() if k not in _VOLATILE}
    b = {k: v for k, v in new.items() if k not in _VOLATILE}
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def _versions() -> dict[str, str]:
    import peft
    import transformers

    return {"lorascope": __version__, "torch": torch.__version__, "transformers": transformers.__version__,
            "peft": peft.__version__}


def load_run_task(config: TrainConfig) -> TextTask:
    """The task of a run: its data files (objective-aware) or the registered task."""
    spec = config.data_spec
    return load_data_task(spec, config.objective) if spec is not None else load_task(config.task)


def _lm_info(kind: str | None, tokenizer, config: TrainConfig, held_out: ForgetText | None) -> dict:
    if kind is None or held_out is None:
        return {"measured": False, "why": "forget_chunks is 0 or the base checkpoint has no LM head"}
    if config.objective == "lm":
        scoring = "the tuned causal LM itself"
    elif kind == "causal":
        scoring = "base model's LM head on the tuned backbone"
    else:
        scoring = "pseudo-loss (Salazar et al.) with the base MLM head on the tuned backbone"
    return {"measured": True, "kind": kind, "text": held_out.source, "mode": held_out.mode,
            "context": held_out.context, "documents": held_out.n_docs,
            "tokens": held_out.chunks.tokens if held_out.chunks is not None else None,
            "chunks": config.forget_chunks, "chunk_length": config.forget_chunk_length, "document_order_seed": 0,
            "bos": needs_bos(tokenizer) if kind == "causal" else None, "scoring": scoring}


def _check_or_write_config(path: Path, run_config: dict) -> None:
    """First run: write config.json. Later runs (resume): the settings must be the same."""
    if path.is_file():
        old = json.loads(path.read_text())
        differ = _differing(old.get("config", {}), run_config["config"])
        if not differ and old.get("task", {}).get("fingerprints", run_config["task"]["fingerprints"]) != \
                run_config["task"]["fingerprints"]:
            differ = ["data"]
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

    kind = "lm-task" if config.objective == "lm" else "classify"
    key = cache_key(fp, data.fingerprint(), clf.first_trained, config.max_length, kind)

    def compute() -> HiddenCache:
        emit(TrainEvent("info", message=f"caching the frozen bottom ({clf.first_trained} blocks) for "
                                        f"{len(data)} {name} examples (once)"))
        clf.model.eval()
        return compute_hidden(run, clf.blocks, clf.first_trained, data.ids, clf.pad_id,
                              config.eval_batch_size,
                              lambda i, n: emit(TrainEvent("cache", step=i, total=n, message=name)))

    return load_or_compute(root, key, compute)


def _scorer(lm, held_out: ForgetText, clf, config: TrainConfig, cached: bool, fp: str, root: Path, emit):
    """A function () -> LossResult of `lm` on the held-out text (through the cached frozen bottom if any)."""
    if not cached or held_out.chunks is None:
        return lambda: held_out.score(lm)
    inputs = held_out.chunks.model_inputs
    key = cache_key(fp, text_fingerprint(held_out), clf.first_trained, config.forget_chunk_length, "lm")

    def compute():
        emit(TrainEvent("info", message=f"caching the frozen bottom for {len(inputs)} text windows"))
        return compute_hidden(lambda ids, mask: lm(input_ids=ids, attention_mask=mask), clf.blocks,
                              clf.first_trained, inputs, clf.pad_id, 8,
                              lambda i, n: emit(TrainEvent("cache", step=i, total=n, message="text")))

    cache = load_or_compute(root, key, compute)
    return lambda: held_out.score(lm, clf.blocks, clf.first_trained, cache)


def text_fingerprint(held_out: ForgetText) -> str:
    """SHA-256 of the model inputs the held-out text is scored on (causal LMs: its windows)."""
    return hashlib.sha256(json.dumps(held_out.chunks.model_inputs).encode()).hexdigest()


def base_loss_key_of(model_fp: str, held_out: ForgetText, start: int, chunk_length: int) -> str:
    """The cache key of the base model's LM loss on `held_out` (train's step 0 and the evaluator share it)."""
    return cache_key(model_fp, text_fingerprint(held_out), start, chunk_length, "lm-base-loss")


def untrained_quality_key(model_fp: str, quality: QualityScorer, start: int, clf: Classifier) -> str:
    """The cache key of the task quality of `clf` while its trained matrices still equal the base's (the caller
    checks): the base, the scored test examples, the first trained block, the batch size, and the values of
    every other trainable parameter (the fresh head; LoRA factors aside, whose product is then zero)."""
    trained = set(clf.matrices)
    head = sorted(hashlib.sha256(p.detach().cpu().contiguous().numpy().tobytes()).hexdigest()
                  + str(tuple(p.shape)) for n, p in clf.trainable
                  if ".lora_" not in n and clean_name(n).removesuffix(".weight") not in trained)
    text = json.dumps({"test": quality.data.fingerprint(), "objective": quality.objective,
                       "batch_size": quality.batch_size, "head": head}, sort_keys=True)
    return cache_key(model_fp, hashlib.sha256(text.encode()).hexdigest(), start, 0, "untrained-quality")


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


