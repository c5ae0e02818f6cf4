"""The resolver: local paths win, `org/name[@revision]` resolves through a real HF cache, adapters name bases."""

from __future__ import annotations

import os

import pytest

from hubnames.conftest import ADAPTER_ID, BASE_ID, set_base_name
from lorascope.errors import InputError
from lorascope.training.registry import resolve_model
from lorascope.weights.source import (
    HubId,
    adapter_base_name,
    base_of_adapter,
    parse_hub_id,
    resolve_pair,
    resolve_source,
)


def test_the_test_cache_is_in_huggingface_hubs_own_layout(hub):
    """huggingface_hub's own cache scanner reads the test cache without a warning, with the refs we wrote."""
    from huggingface_hub import scan_cache_dir

    info = scan_cache_dir(hub.cache)
    assert info.warnings == []
    revisions = {r.repo_id: {rev.commit_hash: set(rev.refs) for rev in r.revisions} for r in info.repos}
    assert revisions[BASE_ID] == {hub.commit_a: {"main"}, hub.commit_b: {"v2"}}
    assert list(revisions[ADAPTER_ID].values()) == [{"main"}]


@pytest.mark.parametrize(("text", "expected"), [
    ("org/name", HubId("org/name")),
    ("HuggingFaceTB/SmolLM2-135M@main", HubId("HuggingFaceTB/SmolLM2-135M", "main")),
    ("org/name@refs/pr/1", HubId("org/name", "refs/pr/1")),
    ("gpt2", None),  # no org: a local name, never a Hub id (built-in names like smollm2 stay safe)
    ("a/b/c", None),
    ("./org/name", None),
    ("../name", None),
    ("/abs/path", None),
    ("~/models", None),
    ("org/name@", None),
    ("org/na--me", None),  # huggingface_hub's own rules refuse it
])
def test_parse_hub_id(text, expected):
    assert parse_hub_id(text) == expected


def test_hub_id_without_revision_is_the_main_ref(offline):
    assert resolve_source(BASE_ID) == offline.snapshot_a
    assert resolve_source(f"{BASE_ID}@main") == offline.snapshot_a
    assert (resolve_source(BASE_ID) / "config.json").read_bytes() == (offline.base_a / "config.json").read_bytes()


def test_revision_as_branch_and_as_commit(offline):
    assert resolve_source(f"{BASE_ID}@v2") == offline.snapshot_b
    assert resolve_source(f"{BASE_ID}@{offline.commit_b}") == offline.snapshot_b
    assert resolve_source(f"{BASE_ID}@{offline.commit_a}") == offline.snapshot_a


def test_an_existing_local_path_wins_over_the_hub_id(offline, tmp_path, monkeypatch):
    local = tmp_path / BASE_ID
    local.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert resolve_source(BASE_ID) == local.relative_to(tmp_path)


def test_local_file_and_folder_pass_through(offline):
    weights = offline.base_a / "model.safetensors"
    assert resolve_source(weights) == weights
    assert resolve_source(str(offline.base_a)) == offline.base_a


def test_missing_local_path_that_is_no_hub_id_says_it_does_not_exist(offline, tmp_path):
    with pytest.raises(InputError, match=r"^BASE .*/nowhere/at/all: does not exist$"):
        resolve_source(tmp_path / "nowhere" / "at" / "all", "BASE")


@pytest.mark.parametrize(("name", "command"), [
    ("tiny-org/absent", "hf download tiny-org/absent"),
    (f"{BASE_ID}@v9", f"hf download {BASE_ID} --revision v9"),
])
def test_offline_miss_is_one_line_naming_the_id_and_the_download(offline, name, command):
    with pytest.raises(InputError) as caught:
        resolve_source(name, "BASE")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"BASE {name}: ") and f"`{command}`" in message
    assert "HF_HUB_OFFLINE=1" in message and str(offline.cache) in message


def test_adapter_names_its_base_and_it_resolves_through_the_cache(offline):
    assert adapter_base_name(offline.adapter) == BASE_ID
    assert base_of_adapter(offline.adapter) == offline.snapshot_a
    assert base_of_adapter(ADAPTER_ID) == offline.snapshot_a  # the adapter itself from the Hub too
    pair = resolve_pair(None, ADAPTER_ID)
    assert (pair.base, pair.tuned, pair.base_name, pair.tuned_name) == (
        offline.snapshot_a, offline.snapshot_adapter, BASE_ID, ADAPTER_ID)


def test_adapter_config_revision_picks_the_base_revision(offline, own_adapter):
    """PEFT records the base's revision in adapter_config.json; AutoPeftModel loads the base at it."""
    set_base_name(own_adapter, BASE_ID, revision="v2")
    assert adapter_base_name(own_adapter) == f"{BASE_ID}@v2"
    assert base_of_adapter(own_adapter) == offline.snapshot_b


def test_adapter_naming_a_local_base(offline, own_adapter):
    set_base_name(own_adapter, str(offline.base_b))
    assert base_of_adapter(own_adapter) == offline.base_b


def test_adapter_naming_no_base_is_a_clear_error(offline, own_adapter):
    set_base_name(own_adapter, None)
    with pytest.raises(InputError, match=r"adapter_config.json: names no base model .*; pass BASE$"):
        base_of_adapter(own_adapter)
    with pytest.raises(InputError, match="names no base model"):
        resolve_pair(None, own_adapter)


def test_adapter_naming_an_uncached_base_says_which_config_named_it(offline, own_adapter):
    set_base_name(own_adapter, "tiny-org/gone")
    with pytest.raises(InputError, match=r"^BASE \(named by .*adapter_config.json\) tiny-org/gone: .*"
                                         r"`hf download tiny-org/gone`"):
        base_of_adapter(own_adapter)


def test_no_base_and_a_checkpoint_is_refused(offline):
    with pytest.raises(InputError, match="only a PEFT adapter names its base"):
        resolve_pair(None, offline.base_a)


def test_resolve_model_accepts_hub_ids_after_registered_names_and_folders(offline):
    assert resolve_model(BASE_ID) == offline.snapshot_a
    assert resolve_model(f"{BASE_ID}@v2") == offline.snapshot_b
    assert resolve_model(str(offline.base_a)) == offline.base_a
    with pytest.raises(InputError, match=r"model tiny-org/tiny-lora: .* no config.json"):
        resolve_model(ADAPTER_ID)
    with pytest.raises(InputError, match=r"`hf download tiny-org/absent`"):
        resolve_model("tiny-org/absent")
    with pytest.raises(InputError, match="unknown model 'not-a-model'"):
        resolve_model("not-a-model")


def test_resolving_writes_nothing_into_the_cache(offline):
    before = sorted(os.walk(offline.cache))
    resolve_source(BASE_ID)
    with pytest.raises(InputError):
        resolve_source("tiny-org/absent")
    assert sorted(os.walk(offline.cache)) == before
