"""``-o every=N`` (a frame every N steps) is refused below 1, never quietly raised to 1."""

from __future__ import annotations

import pytest

from nca.analysis import experiments
from nca.tasks import create_task


@pytest.mark.parametrize("every", [0, -2])
@pytest.mark.parametrize("where", ["rollout", "grow", "texture"])
def test_every_below_one_is_refused(tmp_path, where, every):
    with pytest.raises(ValueError, match=f"every must be >= 1 .*got {every}"):
        if where == "rollout":
            experiments.rollout(None, tmp_path, every=every)
        else:  # the check comes before the model is used
            create_task(where).analyze_growth(None, tmp_path, every=every)
