"""The voxel renderer: occlusion, the index buffer, rotation and slices."""

import torch

from nca.play.voxels import Camera, render_voxels, visible


def _two_voxels():
    """A red voxel at the front (depth 0) and a blue one behind it (depth 3), in the
    middle row and column of a 4^3 volume."""
    colours = torch.zeros(3, 4, 4, 4)
    solid = torch.zeros(4, 4, 4, dtype=torch.bool)
    colours[0, 0, 1, 1], colours[2, 3, 1, 1] = 1.0, 1.0
    solid[0, 1, 1] = solid[3, 1, 1] = True
    return colours, solid


def test_the_nearest_voxel_hides_the_one_behind_and_the_index_names_it():
    colours, solid = _two_voxels()
    front = render_voxels(colours, solid, Camera(yaw=0, pitch=0), 64)
    shown = set(front.index.unique().tolist())
    assert shown == {-1, 0 * 16 + 1 * 4 + 1}  # the background and the front voxel only
    assert (front.image[0][front.index >= 0] > 0.3).all()  # red (shaded), not blue
    assert (front.image[:, front.index < 0] == 1).all()  # white background
    back = render_voxels(colours, solid, Camera(yaw=180, pitch=0), 64)
    assert set(back.index.unique().tolist()) == {-1, 3 * 16 + 1 * 4 + 1}


def test_turning_the_camera_shows_both_and_moves_the_picture():
    colours, solid = _two_voxels()
    side = render_voxels(colours, solid, Camera(yaw=90, pitch=0), 64)
    assert set(side.index.unique().tolist()) == {-1, 5, 53}  # side by side
    iso = render_voxels(colours, solid, Camera(), 64)
    assert not torch.equal(iso.image, side.image)


def test_slices_and_buried_voxels():
    solid = torch.ones(3, 3, 3, dtype=torch.bool)
    assert not visible(solid, Camera())[1, 1, 1]  # buried on all six sides: never drawn
    assert visible(solid, Camera()).sum() == 26
    cut = visible(solid, Camera(slice_axis=0, slice_position=1))
    assert not cut[0].any() and cut[1, 1, 1]  # cut away: the centre is on the cut face
    plane = visible(solid, Camera(slice_axis=2, slice_position=2, slice_mode="plane"))
    assert plane[..., 2].all() and plane.sum() == 9


def test_an_empty_volume_is_a_white_picture():
    picture = render_voxels(torch.zeros(3, 2, 2, 2), torch.zeros(2, 2, 2, dtype=torch.bool),
                            Camera(), 16)  # fmt: skip
    assert (picture.image == 1).all() and (picture.index == -1).all()
