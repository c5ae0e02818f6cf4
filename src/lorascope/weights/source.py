"""Where a model or adapter lives: a local folder or file, or a Hub id `org/name[@revision]` in the HF cache.

A path that exists locally always wins. Otherwise a name shaped like a Hub repo id is looked up with
huggingface_hub's own `snapshot_download`, which reads HF_HOME / HF_HUB_CACHE and, with HF_HUB_OFFLINE=1,
only the cache (`local_files_only`). The cache layout is huggingface_hub's business, never parsed here.
An adapter given alone names its base in adapter_config.json (`base_model_name_or_path`, `revision`),
which is resolved the same way, as PEFT's `AutoPeftModel.from_pretrained` does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from lorascope.errors import InputError
from lorascope.weights.checkpoint import ADAPTER_CONFIG, existing_path, is_adapter_dir
from lorascope.weights.json_file import read_json_object

# Files lorascope never reads (other runtimes' formats): not downloaded when a Hub id is fetched online.
IGNORED_ON_DOWNLOAD = ("*.gguf", "*.onnx", "*.onnx_data", "onnx/*", "openvino/*", "*.msgpack", "*.h5", "*.tflite",
                       "*.ot", "*.mlmodel", "coreml/*", "*.mlpackage/*")


@dataclass(frozen=True)
class HubId:
    """A model repository on the Hugging Face Hub, and optionally a branch, tag or commit of it."""

    repo_id: str
    revision: str | None = None

    def __str__(self) -> str:
        return self.repo_id if self.revision is None else f"{self.repo_id}@{self.revision}"

    def download_command(self) -> str:
        """The `hf` command that puts this revision into the local cache."""
        return f"hf download {self.repo_id}" + ("" if self.revision is None else f" --revision {self.revision}")


@dataclass(frozen=True)
class ResolvedPair:
    """BASE and TUNED as local paths, with the names they were given by (or that the adapter gave the base)."""

    base: Path
    tuned: Path
    base_name: str
    tuned_name: str


def parse_hub_id(text: str) -> HubId | None:
    """`org/name` or `org/name@revision` as a HubId (checked by huggingface_hub's rules); None otherwise."""
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    repo_id, at, revision = text.partition("@")
    if repo_id.count("/") != 1 or (at and not revision.strip()):
        return None
    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        return None
    return HubId(repo_id, revision or None)


def _cache_dir() -> str:
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE


def hub_snapshot(hub: HubId, role: str = "model") -> Path:
    """The local snapshot folder of `hub`, via snapshot_download (cache only when HF_HUB_OFFLINE=1)."""
    from huggingface_hub import constants, errors, snapshot_download
    from huggingface_hub.errors import (
        HfHubHTTPError,
        HFValidationError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    incomplete = getattr(errors, "IncompleteSnapshotError", ())  # huggingface_hub ≥ 2: a partial snapshot
    offline = constants.HF_HUB_OFFLINE
    where = f"the Hugging Face cache {_cache_dir()}"
    try:
        folder = snapshot_download(hub.repo_id, revision=hub.revision, local_files_only=offline,
                                   ignore_patterns=list(IGNORED_ON_DOWNLOAD))
    except LocalEntryNotFoundError as e:
        if isinstance(e, incomplete):
            raise InputError(f"{role} {hub}: its snapshot in {where} is incomplete; complete it with "
                             f"`{hub.download_command()}`") from None
        why = "HF_HUB_OFFLINE=1" if offline else "the Hub could not be reached"
        raise InputError(f"{role} {hub}: no such local path, and not in {where} ({why}); fetch it with "
                         f"`{hub.download_command()}`") from None
    except RevisionNotFoundError:
        raise InputError(f"{role} {hub}: the Hub has no revision {hub.revision!r} of {hub.repo_id}") from None
    except RepositoryNotFoundError:
        raise InputError(f"{role} {hub}: no such local path, and no model {hub.repo_id} on the Hub (private or "
                         "gated repositories need `hf auth login`)") from None
    except (HfHubHTTPError, HFValidationError, OSError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise InputError(f"{role} {hub}: cannot get it from the Hub or {where}: {first}") from None
    return Path(folder)


def hub_id_of(name: str | Path) -> HubId | None:
    """The Hub id `name` stands for: None when it is an existing local path or not shaped like one."""
    text = str(name)
    return None if os.path.lexists(Path(text).expanduser()) else parse_hub_id(text)


def resolve_source(source: str | Path, role: str = "model") -> Path:
    """The local path of a model or adapter given as a local folder, a weights file or a Hub id.

    An existing local path wins; a missing path shaped like `org/name[@revision]` is a Hub id; anything
    else is the usual "does not exist" InputError naming `role`.
    """
    hub = hub_id_of(source)
    if hub is not None:
        return hub_snapshot(hub, role)
    return existing_path(Path(str(source)).expanduser(), role)


def adapter_base_name(adapter_dir: Path) -> str:
    """The base model a PEFT adapter folder names: `base_model_name_or_path`, with `@revision` if it records one."""
    config = adapter_dir / ADAPTER_CONFIG
    if not config.is_file():
        raise InputError(f"{adapter_dir}: no {ADAPTER_CONFIG}, so it names no base model; pass BASE")
    raw = read_json_object(config)
    name = raw.get("base_model_name_or_path")
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{config}: names no base model (base_model_name_or_path is {name!r}); pass BASE")
    revision = raw.get("revision")
    if isinstance(revision, str) and revision.strip() and "@" not in name and parse_hub_id(name) is not None:
        return f"{name}@{revision}"
    return name


def base_of_adapter(adapter: str | Path) -> Path:
    """The local folder of the base model that ADAPTER (a local folder or Hub id) names in its config."""
    adapter_dir = resolve_source(adapter, "adapter")
    if not is_adapter_dir(adapter_dir):
        raise InputError(f"{adapter}: not a PEFT adapter folder (no {ADAPTER_CONFIG}), so it names no base "
                         "model; pass BASE")
    name = adapter_base_name(adapter_dir)
    return resolve_source(name, f"BASE (named by {adapter_dir / ADAPTER_CONFIG})")


def resolve_pair(base: str | Path | None, tuned: str | Path) -> ResolvedPair:
    """BASE and TUNED as local paths; with no BASE, TUNED must be an adapter and its config names the base."""
    tuned_path = resolve_source(tuned, "TUNED")
    if base is not None:
        return ResolvedPair(resolve_source(base, "BASE"), tuned_path, str(base), str(tuned))
    if not is_adapter_dir(tuned_path):
        raise InputError(f"TUNED {tuned}: no BASE given, and only a PEFT adapter names its base "
                         f"({ADAPTER_CONFIG}); pass BASE TUNED")
    name = adapter_base_name(tuned_path)
    base_path = resolve_source(name, f"BASE (named by {tuned_path / ADAPTER_CONFIG})")
    return ResolvedPair(base_path, tuned_path, name, str(tuned))
