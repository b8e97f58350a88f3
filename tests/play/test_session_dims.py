"""PlaySession on 3-D runs (voxels: camera, slice, damage by ball) and 1-D runs (the
space-time diagram)."""

import pytest
import torch

from nca.play.loader import load_play_target
from nca.play.pictures import VOXEL_FRAME
from nca.play.session import PlaySession


def _session(run_dir):
    target = load_play_target(run_dir)
    return PlaySession(target.playground(), target.model_lock)


def _snowman(session: PlaySession) -> None:
    """Put the run's target volume into the grid's RGBA (a one-iteration model has not
    grown anything), all of it alive."""
    target = session.playground  # a GrowPlayground
    rgba = torch.zeros(4, *session.cells.shape[2:])
    rgba[3, 2:10, 2:10, 2:10] = 1.0  # an opaque cube of 8^3
    rgba[0, 2:10, 2:10, 2:10] = torch.linspace(0, 1, 8).view(1, 1, 8)  # red from left to right
    with torch.no_grad():
        session.cells[0, target.model.layout.slice("output")] = rgba
    session.set_paused(True)


@pytest.fixture
def volume(make_run):
    session = _session(make_run("grow3d", "convca"))
    _snowman(session)
    return session


def test_a_3d_run_draws_voxels_that_turn_with_the_camera(volume):
    assert volume.state()["dims"] == 3 and volume.state()["camera"]["yaw"] == -30.0
    front = volume.frame()
    assert front.shape == (VOXEL_FRAME, VOXEL_FRAME, 4)
    assert (front[..., :3] < 250).any(dim=-1).float().mean() > 0.05  # a cube, not blank
    volume.set_camera(90, 0)
    side = volume.frame()
    assert not torch.equal(front, side)
    # seen from the left the cube's red gradient runs front to back: its left face is dark
    volume.set_camera(0, 0)
    head_on = volume.frame()[..., 0].float()
    lit = head_on[VOXEL_FRAME // 2, VOXEL_FRAME // 2 - 30 : VOXEL_FRAME // 2 + 30]
    assert lit[-1] > lit[0]  # red grows left to right on the front face
    volume.set_camera(370, 0)  # any yaw is taken, kept in [-180, 180)
    assert volume.state()["camera"]["yaw"] == 10


def test_slices_cut_away_or_show_one_plane(volume):
    volume.set_camera(0, 0)
    whole = volume.frame()
    volume.set_slice(0, 6, "plane")  # only the plane at depth 6: the same square face-on
    plane = volume.frame()
    covered = lambda frame: (frame[..., :3] < 250).any(dim=-1)  # noqa: E731
    assert torch.equal(covered(plane), covered(whole))
    volume.set_slice(1, 6, "cut")  # the top rows (2 to 5) are cut away
    assert covered(volume.frame()).sum() < covered(whole).sum()
    volume.set_slice(-1)
    assert torch.equal(volume.frame(), whole)


def test_a_click_damages_a_ball_around_the_voxel_under_it(volume):
    volume.set_camera(0, 0)
    before = volume.cells.clone()
    # the front face's centre: a voxel at depth 2; the ball's radius 0.25 x 12 = 3 voxels
    assert volume.damage(0.5, 0.5, 0.25) > 0
    erased = (volume.cells != before).any(dim=1)[0]  # (D, H, W)
    depths = erased.nonzero()[:, 0]
    assert depths.min() == 2 and depths.max() == 5  # from the face 3 voxels deep
    assert (erased.nonzero()[:, 1:].float() - 6).abs().max() <= 3.5  # around the middle
    assert volume.damage(0.02, 0.02, 0.25) == 0  # the background: nothing to damage
    volume.reset()
    assert volume.state()["step"] == 0 and int((volume.cells[0, 3] > 0.1).sum()) == 1  # one seed


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda s: s.set_camera(0, 91), r"pitch must be in \[-90, 90\]"),
        (lambda s: s.set_camera(float("inf"), 0), "yaw must be a finite number"),
        (lambda s: s.set_slice(3), "slice axis must be -1"),
        (
            lambda s: s.set_slice(0, 12),
            r"slice position 12 out of range for axis 0; valid: 0\.\.11",
        ),
        (lambda s: s.set_slice(0, 1, "half"), "slice mode must be one of"),
        (lambda s: s.set_view("attention"), "has no attention maps"),
    ],
)
def test_bad_3d_settings_are_refused_with_what_is_valid(volume, call, message):
    with pytest.raises(ValueError, match=message):
        call(volume)


def test_the_camera_is_refused_on_2d_and_1d_runs(make_run):
    for name, dims in (("grow", 2), ("eca", 1)):
        session = _session(make_run(name, "convca"))
        with pytest.raises(
            ValueError, match=f"rotate needs a 3-D run; this run's grid is {dims}-D"
        ):
            session.set_camera(0, 0)
        with pytest.raises(ValueError, match="slice needs a 3-D run"):
            session.set_slice(0)


def test_the_hidden_view_colours_the_voxels(volume):
    output = volume.frame()
    volume.set_view("hidden", 0)
    assert not torch.equal(volume.frame(), output)


def test_a_1d_run_adds_a_row_per_step_and_scrolls(make_run):
    session = _session(make_run("eca", "convca"))
    rows = session.frame().shape[0]  # the diagram's height, fixed
    assert session.state()["dims"] == 1 and rows == 64  # 2 x 16 cells, at least 64
    first = session.frame()
    assert (first[0, :, :3] < 128).all(dim=-1).sum() == 1  # one black cell: the seed
    assert (first[1:, :, :3] == 255).all()  # no steps yet: white below
    session.advance(3)
    after = session.frame()
    assert torch.equal(after[0], first[0]) and not (after[1:4, :, :3] == 255).all()
    assert (after[4:, :, :3] == 255).all()  # one row per step
    session.advance(rows)  # full: the oldest rows scrolled off the top
    scrolled = session.frame()
    assert not (scrolled[-1, :, :3] == 255).all() and not torch.equal(scrolled[0], first[0])
    session.reset()
    assert torch.equal(session.frame(), first)


def test_1d_damage_changes_the_current_row(make_run):
    session = _session(make_run("eca", "convca"))
    session.choose("start", "random row")
    before = session.cells.clone()
    assert session.damage(0.5, 0.9, 0.25, "noise") == 8  # 16 cells: 4 either side of the middle
    changed = (session.cells != before).any(dim=1)[0]
    assert changed.nonzero().squeeze(1).tolist() == list(range(4, 12))
    with pytest.raises(ValueError, match="has no attention maps"):
        session.set_view("attention")
