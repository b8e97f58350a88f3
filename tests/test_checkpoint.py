import pickle

import pytest
import torch

from nca.checkpoint import (
    CHECKPOINT_FORMAT,
    CHECKSUM_KEY,
    CheckpointCorrupted,
    content_digest,
    load_checkpoint,
    save_checkpoint,
)


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


def flip_a_bit(path, tensor: torch.Tensor) -> None:
    """Flip the lowest bit of ``tensor``'s first element where the file stores it."""
    raw = bytearray(path.read_bytes())
    where = raw.find(tensor.contiguous().view(torch.uint8).numpy().tobytes())
    assert where >= 0 and raw.count(tensor.view(torch.uint8).numpy().tobytes()) == 1
    raw[where] ^= 1
    path.write_bytes(bytes(raw))


def test_one_flipped_bit_in_a_weight_is_refused_naming_the_file(tmp_path):
    weight = torch.randn(64, generator=torch.Generator().manual_seed(0))
    path = save_checkpoint(tmp_path / "last.pt", {"model": {"w": weight}, "iteration": 3})
    flip_a_bit(path, weight)
    data = torch.load(path, weights_only=True)  # still a readable file: only the sum knows
    assert not torch.equal(data["model"]["w"], weight)
    with pytest.raises(CheckpointCorrupted) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert "\n" not in message and f"{path} is damaged" in message
    assert isinstance(err.value, ValueError)  # callers that refuse bad files still do


def test_a_checkpoint_without_a_checksum_still_loads(tmp_path):
    """Written before the digest existed."""
    path = tmp_path / "old.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "model": {"w": torch.ones(2)}}, path)
    assert torch.equal(load_checkpoint(path)["model"]["w"], torch.ones(2))


def test_the_checksum_is_not_returned_and_a_resave_gets_a_fresh_one(tmp_path):
    path = save_checkpoint(tmp_path / "a.pt", {"model": {"w": torch.ones(2)}, "iteration": 1})
    data = load_checkpoint(path)
    assert CHECKSUM_KEY not in data
    data["iteration"] = 2
    assert load_checkpoint(save_checkpoint(tmp_path / "b.pt", data))["iteration"] == 2


@pytest.mark.parametrize(
    "changed",
    [
        {"model": {"w": torch.tensor([1.0, 2.0], dtype=torch.float64)}, "iteration": 1},
        {"model": {"w": torch.tensor([[1.0, 2.0]])}, "iteration": 1},
        {"model": {"w": torch.tensor([1.0, 2.5])}, "iteration": 1},
        {"model": {"w": torch.tensor([1.0, 2.0])}, "iteration": 2},
        {"model": {"v": torch.tensor([1.0, 2.0])}, "iteration": 1},
        {"model": {"w": torch.tensor([1.0, 2.0])}, "iteration": 1.0},
    ],
)
def test_the_digest_sees_dtype_shape_bytes_values_keys_and_types(changed):
    base = {"model": {"w": torch.tensor([1.0, 2.0])}, "iteration": 1}
    assert content_digest(base) == content_digest({k: v for k, v in base.items()})
    assert content_digest(changed) != content_digest(base)
