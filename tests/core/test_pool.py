import types

import pytest
import torch

from nca.checkpoint import load_checkpoint, save_checkpoint
from nca.core import PAPER_POOL_CAPACITY, ShufflePool


def _batch(start, n=4):
    ids = torch.arange(start, start + n)
    cells = ids.float().view(n, 1, 1, 1).expand(n, 3, 2, 2).clone()
    targets = ids.float().view(n, 1, 1, 1).expand(n, 1, 2, 2).clone()
    return cells, targets, {"label": ids}


def test_paper_capacity():
    assert PAPER_POOL_CAPACITY == 1024
    assert ShufflePool().capacity == 1024


def test_add_keeps_entries_aligned_and_truncates():
    pool = ShufflePool(capacity=10, generator=torch.Generator().manual_seed(0))
    for start in range(0, 16, 4):
        pool.add(*_batch(start))
    assert len(pool) == 10
    batch = pool.sample(10)
    ids = batch.extras["label"]
    assert torch.equal(
        batch.cells[:, 0, 0, 0], ids.float()
    )  # cells, targets, extras travel together
    assert torch.equal(batch.targets[:, 0, 0, 0], ids.float())
    assert len(set(ids.tolist())) == 10


def test_sample_returns_the_first_entries_without_removing_them():
    pool = ShufflePool(capacity=8, generator=torch.Generator().manual_seed(0))
    pool.add(*_batch(0, 8))
    first = pool.sample(3)
    again = pool.sample(3)
    assert torch.equal(first.extras["label"], again.extras["label"])
    assert len(pool) == 8
    first.cells += 100  # a copy: the pool is not modified through it
    assert pool.sample(3).cells.max() < 100


def test_replace_sampled_removes_them():
    pool = ShufflePool(capacity=8, generator=torch.Generator().manual_seed(0), replace_sampled=True)
    pool.add(*_batch(0, 8))
    taken = pool.sample(3).extras["label"]
    assert len(pool) == 5
    assert not set(taken.tolist()) & set(pool.sample(5).extras["label"].tolist())


def test_shuffle_is_seeded():
    def order(seed):
        pool = ShufflePool(capacity=16, generator=torch.Generator().manual_seed(seed))
        pool.add(*_batch(0, 16))
        return pool.sample(16).extras["label"].tolist()

    assert order(1) == order(1)
    assert order(1) != order(2)
    assert sorted(order(1)) == list(range(16))


def test_state_dict_round_trip_through_a_safe_checkpoint(tmp_path):
    pool = ShufflePool(capacity=6, generator=torch.Generator().manual_seed(0))
    pool.add(*_batch(0, 6))
    path = save_checkpoint(tmp_path / "pool.pt", {"pool": pool.state_dict()})
    restored = ShufflePool(capacity=1)
    restored.load_state_dict(load_checkpoint(path)["pool"])
    assert len(restored) == 6 and restored.capacity == 6
    a, b = pool.sample(6), restored.sample(6)
    assert torch.equal(a.cells, b.cells) and torch.equal(a.extras["label"], b.extras["label"])
    # the generator state travels too: the next shuffle is the same
    pool.add(*_batch(10, 2))
    restored.add(*_batch(10, 2))
    assert torch.equal(pool.sample(6).extras["label"], restored.sample(6).extras["label"])


def test_bad_use():
    pool = ShufflePool(capacity=4)
    with pytest.raises(ValueError, match="cannot sample 2 entries from a pool holding 0"):
        pool.sample(2)
    cells, targets, extras = _batch(0)
    with pytest.raises(ValueError, match="targets has 3 entries but cells has 4"):
        pool.add(cells, targets[:3])
    pool.add(cells, targets, extras)
    with pytest.raises(ValueError, match="extras keys changed"):
        pool.add(cells, targets)
    with pytest.raises(ValueError, match="pool capacity must be a positive integer"):
        ShufflePool(capacity=0)


def test_failed_add_leaves_the_pool_intact():
    pool = ShufflePool(capacity=4, generator=torch.Generator().manual_seed(0))
    cells, targets, extras = _batch(0)
    pool.add(cells, targets, extras)
    before = pool.sample(4)
    with pytest.raises(ValueError, match=r"targets of per-sample shape \(2, 2, 2\) cannot join"):
        pool.add(cells, torch.zeros(4, 2, 2, 2), extras)
    with pytest.raises(ValueError, match="extra 'label' of per-sample shape"):
        pool.add(cells, targets, {"label": torch.zeros(4, 3)})
    assert len(pool) == 4
    after = pool.sample(4)
    assert torch.equal(before.cells, after.cells) and torch.equal(before.targets, after.targets)
    pool.add(*_batch(10))  # still usable
    assert len(pool) == 4


@pytest.mark.parametrize("kind", ["cuda", "stand-in"])
def test_pool_rejects_non_cpu_generators(kind):
    if kind == "cuda":
        if not torch.cuda.is_available():
            pytest.skip("no CUDA device: a real non-CPU generator cannot be made here")
        generator = torch.Generator(device="cuda")
    else:  # what the check reads of a generator: its device
        generator = types.SimpleNamespace(device=torch.device("cuda"))
    with pytest.raises(ValueError, match="must be a CPU generator, got cuda"):
        ShufflePool(4, generator=generator)


def test_pool_rejects_foreign_states_and_bad_batch_sizes():
    with pytest.raises(ValueError, match="not a ShufflePool state"):
        ShufflePool().load_state_dict({"weights": 1})
    with pytest.raises(TypeError, match="batch_size must be an integer"):
        ShufflePool().sample(2.5)
