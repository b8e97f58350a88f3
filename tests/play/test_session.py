"""PlaySession over every task with a viewer and every registered rule."""

import threading
import time

import pytest
import torch

from nca import create_task, list_rules
from nca.play import Playground
from nca.play.loader import load_play_target
from nca.play.session import PlaySession
from nca.rules import get_rule_class

CA_RULES = [name for name in list_rules() if get_rule_class(name).kind == "ca"]
FEED_FORWARD = [name for name in list_rules() if get_rule_class(name).kind != "ca"]
TASKS = ["grow", "classify", "texture", "denoise"]


def _session(run_dir, seed=0):
    target = load_play_target(run_dir)
    return PlaySession(target.playground(), target.model_lock, seed=seed), target


@pytest.mark.parametrize("rule_name", CA_RULES)
@pytest.mark.parametrize("task_name", TASKS)
def test_every_rule_plays_every_task(make_run, task_name, rule_name):
    session, target = _session(make_run(task_name, rule_name))
    assert isinstance(target.playground(), Playground)
    first = session.frame()
    height, width = session.cells.shape[-2:]
    assert first.dtype == torch.uint8 and first.shape[-1] == 4 and (first[..., 3] == 255).all()
    seed_cells = session.cells.clone()

    session.advance(3)
    assert session.step_count == 3
    assert not torch.equal(session.cells, seed_cells)  # one trained iteration: it moves

    layout = session.layout
    before = session.cells.clone()
    count = session.damage(0.25, 0.75, 0.2, "erase")
    rows = torch.arange(height).view(-1, 1) + 0.5
    cols = torch.arange(width).view(1, -1) + 0.5
    disc = (rows - 0.75 * height) ** 2 + (cols - 0.25 * width) ** 2 <= (
        0.2 * min(height, width)
    ) ** 2
    assert count == int(disc.sum()) > 0
    updatable = session.cells[0, layout.updatable_slice]
    assert (updatable[:, disc] == 0).all()
    assert torch.equal(updatable[:, ~disc], before[0, layout.updatable_slice][:, ~disc])
    fixed = layout.fixed_slice
    assert torch.equal(session.cells[:, fixed], before[:, fixed])  # inputs and positions kept

    session.damage(0.5, 0.5, 0.1, "noise")
    noisy = session.cells[0, layout.updatable_slice]
    assert noisy.abs().max() <= 1 and noisy.std() > 0

    session.reset()
    assert session.step_count == 0 and torch.equal(session.cells, seed_cells)
    assert torch.equal(session.frame(), first)

    if layout.hidden_channels:
        session.set_view("hidden", layout.hidden_channels - 1)
        assert session.frame().shape[:2] == (height, width)
    supports_attention = get_rule_class(rule_name).supports("attention_maps")
    if supports_attention:
        session.set_view("attention")
        assert session.frame().shape == first.shape
    else:
        with pytest.raises(ValueError, match="no attention maps"):
            session.set_view("attention")
    state = session.state()
    assert state["grid"] == [height, width] and state["attention"] == supports_attention


@pytest.mark.parametrize("rule_name", FEED_FORWARD)
def test_feed_forward_rules_are_refused_in_one_line(make_run, rule_name):
    with pytest.raises(ValueError, match="feed-forward") as refused:
        load_play_target(make_run("denoise", rule_name))
    assert "\n" not in str(refused.value)


def test_tasks_without_a_grid_have_no_viewer():
    with pytest.raises(ValueError, match="task 'probe' has no interactive viewer"):
        create_task("probe", features="pixels").playground(None)


def test_denoise_choices_inject_a_new_input(make_run):
    session, _ = _session(make_run("denoise", "convca"))
    state = session.state()
    names = {c["name"]: c for c in state["choices"]}
    assert set(names) == {"image", "noise"} and len(names["noise"]["options"]) == 10
    session.advance(2)
    hidden = session.cells[:, session.layout.slice("hidden")].clone()
    session.choose("image", names["image"]["options"][1])
    # the new image is the input; the grid's state carries on (paper Fig. 4f)
    assert torch.equal(session.cells[:, session.layout.slice("hidden")], hidden)
    assert session.state()["choices"][0]["value"] == names["image"]["options"][1]
    session.choose("noise", "none")
    clean = session.playground.images[1:2]
    assert torch.equal(session.cells[:, session.layout.slice("input")], clean)
    with pytest.raises(ValueError, match="noise has no option '3x3/10%'; valid: 1x1/25%"):
        session.choose("noise", "3x3/10%")
    with pytest.raises(ValueError, match="unknown choice 'colour'; valid: image, noise"):
        session.choose("colour", "red")


def test_classify_choice_mutates_the_digit(make_run):
    session, _ = _session(make_run("classify", "convca"))
    options = session.state()["choices"][0]["options"]
    session.advance(2)
    session.choose("image", options[1])
    pixel = session.cells[:, session.layout.slice("input").start]
    assert torch.equal(pixel, session.playground.images[1, 0][None])


def test_head_masks_stay_in_their_tab(make_run):
    target = load_play_target(make_run("denoise", "vitca"))
    masked = PlaySession(target.playground(), target.model_lock, seed=3)
    plain = PlaySession(target.playground(), target.model_lock, seed=3)
    alone = PlaySession(target.playground(), target.model_lock, seed=3)
    masked.set_masked_heads([0, 1])
    for _ in range(4):  # interleaved on the shared rule
        masked.advance(1)
        plain.advance(1)
    alone.advance(4)
    assert torch.equal(plain.cells, alone.cells)
    assert not torch.equal(masked.cells, plain.cells)
    with pytest.raises(ValueError, match=r"head indices in \[0, 2\)"):
        masked.set_masked_heads([2])


def test_attention_views_keep_their_tabs_head_masks(make_run):
    target = load_play_target(make_run("denoise", "vitca"))
    masked, plain, alone = (PlaySession(target.playground(), target.model_lock) for _ in "abc")
    for session in (masked, plain, alone):
        session.advance(3)
        session.set_view("attention")
    masked.set_masked_heads([0])
    masked.frame()  # sets its mask on the shared rule
    assert torch.equal(plain.frame(), alone.frame())
    assert not torch.equal(masked.frame(), plain.frame())


def test_patches_damage_and_draw_in_image_pixels(make_run):
    session, _ = _session(make_run("denoise", "vitca", patch_size=(2, 1)))
    height, width = session.cells.shape[-2:]  # cells: 8x8 pixels in 2x1 patches -> 4x8
    assert (height, width) == (4, 8)
    output = session.frame()
    session.set_view("hidden", 0)
    assert session.frame().shape == output.shape == (8, 8, 4)
    count = session.damage(0.5, 0.5, 0.25, "erase")  # radius 2 pixels around (4, 4)
    rows = (torch.arange(height).view(-1, 1) + 0.5) * 2
    cols = torch.arange(width).view(1, -1) + 0.5
    disc = (rows - 4) ** 2 + (cols - 4) ** 2 <= 2**2  # a circle in pixels, not in cells
    assert count == int(disc.sum())
    assert (session.cells[0, session.layout.updatable_slice][:, disc] == 0).all()


def test_sessions_in_threads_do_not_corrupt_each_other(make_run, monkeypatch):
    """Head masks are each tab's own, set on the shared rule before every step: tabs
    stepping in threads each see only theirs (the shared model lock keeps them apart)."""
    target = load_play_target(make_run("denoise", "vitca"))
    heads = {"masked": [0], "plain": []}
    steps = 8

    def tab(name, seed=1):
        session = PlaySession(target.playground(), target.model_lock, seed=seed)
        session.set_masked_heads(heads[name])
        return session

    alone = {name: tab(name) for name in heads}
    for session in alone.values():
        session.advance(steps)
    assert not torch.equal(alone["masked"].cells, alone["plain"].cells)  # the mask matters
    rule = alone["masked"].rule  # the model every tab shares
    mask_heads = rule.mask_heads

    def slow_mask_heads(indices):  # widen the gap between setting a tab's mask and its step
        mask_heads(indices)
        time.sleep(0.002)

    monkeypatch.setattr(rule, "mask_heads", slow_mask_heads)
    tabs = [(name, tab(name)) for name in ("masked", "plain", "masked", "plain")]
    other_seed = tab("masked", seed=2)  # its own update masks
    threads = [threading.Thread(target=lambda s=s: [s.advance(1) for _ in range(steps)])
               for s in [*(s for _, s in tabs), other_seed]]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for name, session in tabs:
        assert torch.equal(session.cells, alone[name].cells), name
    assert not torch.equal(other_seed.cells, alone["masked"].cells)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.set_sigma(0), r"update rate σ must be in \(0, 1\]"),
        (lambda s: s.set_sigma("fast"), "update rate must be a number"),
        (lambda s: s.set_speed(0), r"steps_per_frame must be an integer in \[1, 64\]"),
        (lambda s: s.damage(0.5, 0.5, 0), r"damage radius must be in \(0, 1\]"),
        (lambda s: s.damage(-0.1, 0.5, 0.1), r"damage x must be in \[0, 1\]"),
        (lambda s: s.damage(0.5, 0.5, 0.1, "burn"), "damage mode must be one of"),
        (lambda s: s.set_view("rgb"), "view must be one of"),
        (lambda s: s.set_view("hidden", 99), r"hidden channel 99 out of range; valid: 0\.\.2"),
        (lambda s: s.set_masked_heads([0]), "no attention heads"),
        (lambda s: s.advance(0), r"steps must be an integer in \[1, 4096\]"),
    ],
)
def test_bad_settings_are_refused_with_what_is_valid(make_run, call, message):
    session, _ = _session(make_run("grow", "convca"))
    with pytest.raises(ValueError, match=message):
        call(session)
