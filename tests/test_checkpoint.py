import pickle

import pytest
import torch

from nca.checkpoint import CHECKPOINT_FORMAT, load_checkpoint, save_checkpoint


def test_round_trip_and_no_temporary_left(tmp_path):
    path = save_checkpoint(tmp_path / "ck" / "last.pt", {"model": {"w": torch.ones(2)}, "step": 3})
    data = load_checkpoint(path)
    assert data["format"] == CHECKPOINT_FORMAT and data["step"] == 3
    assert torch.equal(data["model"]["w"], torch.ones(2))
    assert [p.name for p in path.parent.iterdir()] == ["last.pt"]


def test_interrupted_write_keeps_the_old_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "last.pt", {"step": 1})

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]


class Evil:
    def __reduce__(self):
        return (print, ("code ran",))


def test_loading_refuses_pickled_code(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        pickle.dump({"format": CHECKPOINT_FORMAT, "x": Evil()}, handle, protocol=2)
    with pytest.raises(ValueError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert "unsupported GLOBAL builtins.print" in message or "unsupported GLOBAL print" in message
    assert "weights_only" not in message and "will likely succeed" not in message


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nope.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "foreign.pt")
    with pytest.raises(ValueError, match="checkpoint format None"):
        load_checkpoint(tmp_path / "foreign.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint" * 10)
    with pytest.raises(ValueError, match="not a PyTorch file of tensors") as err:
        load_checkpoint(tmp_path / "garbage.pt")
    assert "weights_only" not in str(err.value)
