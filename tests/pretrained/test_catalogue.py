"""Names to checked weights files: lookups, one-line errors, checksums, and the names
that :func:`nca.checkpoint.find_checkpoint` resolves."""

from __future__ import annotations

from pathlib import Path

import pytest

from nca import find_checkpoint, load_checkpoint, run_dir_of
from nca.pretrained import (
    PretrainedCorrupted,
    UnknownPretrainedModel,
    catalogue,
    get_pretrained,
    list_pretrained,
    missing_source,
    pretrained_path,
    shipped_name,
)


@pytest.fixture
def installed(manifest, monkeypatch) -> Path:
    """``manifest`` in place of the package's."""
    monkeypatch.setattr(catalogue, "MANIFEST_FILE", manifest)
    return manifest


def test_list_and_get(manifest):
    assert [m.name for m in list_pretrained(manifest)] == ["gecko", "newt"]
    assert get_pretrained("newt", manifest).task == "grow"


def test_an_unknown_name_is_one_line_listing_the_known_ones(manifest):
    with pytest.raises(UnknownPretrainedModel) as caught:
        get_pretrained("salamander", manifest)
    assert str(caught.value) == (
        "no pretrained model named 'salamander'; pretrained models: gecko, newt"
    )
    assert isinstance(caught.value, ValueError)


def test_the_path_is_checked_against_the_manifest(manifest):
    path = pretrained_path("gecko", manifest)
    assert path == manifest.parent / "weights" / "gecko.pt"
    assert load_checkpoint(path)["task"]["name"] == "grow"


def test_a_changed_byte_is_refused(manifest):
    path = manifest.parent / "weights" / "gecko.pt"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(PretrainedCorrupted, match="pretrained model 'gecko' is damaged") as caught:
        pretrained_path("gecko", manifest)
    assert "sha256" in str(caught.value) and "\n" not in str(caught.value)


def test_a_file_of_another_size_is_refused(manifest):
    path = manifest.parent / "weights" / "newt.pt"
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(PretrainedCorrupted, match="bytes, the manifest records"):
        pretrained_path("newt", manifest)


def test_a_missing_file_is_named(manifest):
    (manifest.parent / "weights" / "newt.pt").unlink()
    with pytest.raises(FileNotFoundError, match="newt.*missing from the package"):
        pretrained_path("newt", manifest)


def test_find_checkpoint_resolves_a_name_to_the_checked_file(installed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert find_checkpoint("gecko") == installed.parent / "weights" / "gecko.pt"
    assert find_checkpoint("gecko", "best") == find_checkpoint("gecko")  # one file: both


def test_an_existing_path_wins_over_a_name(installed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "gecko" / "checkpoints").mkdir(parents=True)
    (tmp_path / "gecko" / "checkpoints" / "last.pt").write_bytes(b"")
    assert find_checkpoint("gecko") == Path("gecko") / "checkpoints" / "last.pt"


def test_find_checkpoint_names_what_a_source_is_not(installed, tmp_path):
    with pytest.raises(FileNotFoundError) as caught:
        find_checkpoint("salamander")
    assert str(caught.value) == (
        "no run directory, checkpoint or pretrained model named 'salamander'; "
        "pretrained models: gecko, newt"
    )
    with pytest.raises(FileNotFoundError, match="is neither a checkpoint file nor a run dir"):
        find_checkpoint(tmp_path / "nope")  # a path: the message it always had


def test_a_corrupted_file_is_refused_by_name(installed):
    path = installed.parent / "weights" / "newt.pt"
    path.write_bytes(path.read_bytes()[:-1] + b"x")
    with pytest.raises(PretrainedCorrupted):
        find_checkpoint("newt")


@pytest.mark.parametrize(
    ("source", "name_like"),
    [("lizard", True), ("runs/lizard", False), ("lizard.pt", False), ("/abs", False)],
)
def test_bare_names_list_the_models_and_paths_do_not(manifest, source, name_like):
    message = missing_source(source, manifest)
    assert ("pretrained models: gecko, newt" in message) == name_like


def test_outputs_of_a_shipped_model_go_to_runs_pretrained(installed):
    weights = installed.parent / "weights" / "newt.pt"
    assert shipped_name(weights) == "newt"
    assert run_dir_of(weights) == Path("runs") / "pretrained" / "newt"
    assert shipped_name(installed.parent / "newt.pt") is None
    assert run_dir_of(Path("run") / "checkpoints" / "last.pt") == Path("run")
