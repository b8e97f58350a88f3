"""Draw a voxel volume as a picture: an orthographic view from any angle, with a slice.

The viewer renders 3-D grids on the server with torch and streams the pictures like
2-D frames. Each visible voxel is a unit cube; every pixel near its projection casts
an orthographic ray at it (slab test), and a z-buffer keeps the nearest hit. Faces
are shaded by their angle to a light fixed to the camera and dimmed with depth, so
the cubes read as solids. The picture keeps, per pixel, which voxel it shows (an
index buffer), so a click maps back to the voxel under the cursor.

Axes follow the grow task's volumes: axis 0 front to back, 1 top to bottom, 2 left
to right.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

SliceMode = Literal["cut", "plane"]
SLICE_MODES: tuple[str, ...] = ("cut", "plane")
#: Light direction in camera space (x right, y up, z towards the viewer): from the
#: upper left, in front.
LIGHT = (-0.45, 0.6, 0.66)
#: Brightness of a face turned away from the light, and the dimming of the farthest voxel.
AMBIENT, DEPTH_DIMMING = 0.45, 0.35
#: Depth resolution of the z-buffer, in steps per voxel.
DEPTH_STEPS = 1024


@dataclass(frozen=True)
class Camera:
    """How a volume is looked at.

    Attributes:
        yaw: Turn about the vertical axis, degrees (0: from the front).
        pitch: Tilt, degrees in [-90, 90] (positive: looking down on the top).
        slice_axis: Spatial axis of the slice plane (0, 1, 2), or -1 for none.
        slice_position: The plane's index along ``slice_axis``.
        slice_mode: ``cut`` hides the voxels before the plane (in front of, above, or
            left of it), so its cross-section faces the default view; ``plane`` shows
            the plane only.
    """

    yaw: float = -30.0
    pitch: float = 25.0
    slice_axis: int = -1
    slice_position: int = 0
    slice_mode: SliceMode = "cut"


@dataclass
class VoxelPicture:
    """A rendered view.

    Attributes:
        image: RGB ``(3, S, S)`` in [0, 1], white where no voxel is hit.
        index: ``(S, S)`` int64: the flat index (into ``D·H·W``) of the voxel each pixel
            shows, -1 for the background.
    """

    image: torch.Tensor
    index: torch.Tensor


def rotation(yaw: float, pitch: float) -> torch.Tensor:
    """World to camera ``(3, 3)``: the yaw about the vertical axis, then the pitch."""
    a, b = math.radians(yaw), math.radians(pitch)
    turn = torch.tensor([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    tilt = torch.tensor([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    return tilt @ turn


def visible(solid: torch.Tensor, camera: Camera) -> torch.Tensor:
    """The voxels to draw ``(D, H, W)``: ``solid`` after the slice, without the ones
    buried on all six sides (no ray can reach them)."""
    shown = solid.clone()
    if camera.slice_axis >= 0:
        position = torch.arange(solid.shape[camera.slice_axis], device=solid.device)
        shape = [1, 1, 1]
        shape[camera.slice_axis] = -1
        position = position.view(shape)
        if camera.slice_mode == "plane":
            shown &= position == camera.slice_position
        else:
            shown &= position >= camera.slice_position
    padded = torch.nn.functional.pad(shown, (1, 1, 1, 1, 1, 1))
    buried = shown.clone()
    for axis in range(3):
        for shift in (-1, 1):
            buried &= padded.roll(shift, axis)[1:-1, 1:-1, 1:-1]
    return shown & ~buried


def render_voxels(
    colours: torch.Tensor, solid: torch.Tensor, camera: Camera, size: int
) -> VoxelPicture:
    """Draw the ``solid`` voxels of a volume, each in its colour.

    Args:
        colours: RGB ``(3, D, H, W)`` in [0, 1].
        solid: ``(D, H, W)`` bool, the voxels that are drawn.
        camera: The view angle and slice.
        size: Side ``S`` of the square picture in pixels (the whole volume fits at any
            angle).

    Returns:
        The picture and its index buffer.
    """
    colours, solid = colours.detach().float().cpu(), solid.cpu()
    sizes = tuple(solid.shape)
    ids = visible(solid, camera).flatten().nonzero().squeeze(1)  # (N,)
    if len(ids) == 0:
        return VoxelPicture(torch.ones(3, size, size), torch.full((size, size), -1))
    key = _zbuffer(ids, sizes, camera, size)  # (S·S,) int64, -1 where nothing is hit
    hit, key = key >= 0, key.clamp(min=0)
    voxel = torch.where(hit, ids[key // 6 % len(ids)], -1)
    depth = (key // 6 // len(ids)).float() / DEPTH_STEPS
    shade = _shade(key % 6, depth, sizes, camera)
    rgb = colours.flatten(1)[:, voxel.clamp(min=0)] * shade
    image = torch.where(hit, rgb, torch.ones_like(rgb)).view(3, size, size)
    return VoxelPicture(image.clamp(0, 1), voxel.view(size, size))


def _centres(ids: torch.Tensor, sizes: tuple[int, int, int]) -> torch.Tensor:
    """World positions ``(N, 3)`` (x right, y up, z towards the front) of flat voxel ids,
    the volume centred on the origin."""
    d, rest = ids // (sizes[1] * sizes[2]), ids % (sizes[1] * sizes[2])
    h, w = rest // sizes[2], rest % sizes[2]
    half = [(n - 1) / 2 for n in sizes]
    return torch.stack([w - half[2], half[1] - h, half[0] - d], dim=1).float()


def _radius(sizes: tuple[int, int, int]) -> float:
    """Half the volume's diagonal, in voxels (plus the half voxel of the corner cubes)."""
    return 0.5 * math.sqrt(sum(n * n for n in sizes)) + 0.5


def _zbuffer(ids: torch.Tensor, sizes, camera: Camera, size: int) -> torch.Tensor:
    """Per pixel ``(S·S,)``: ``(depth · N + i) · 6 + face`` of the nearest hit (the
    depth quantised, ``i`` the voxel's position in ``ids``), -1 where no ray hits."""
    empty = torch.full((size * size,), -1, dtype=torch.long)
    if len(ids) == 0:
        return empty
    turn = rotation(camera.yaw, camera.pitch)
    radius = _radius(sizes)
    scale = size / (2 * radius)  # pixels per voxel
    centres = _centres(ids, sizes) @ turn.T  # camera space (N, 3)
    # candidate pixels: a square around each projected centre that holds the cube's
    # projection (within sqrt(3)/2 voxels of the centre)
    reach = math.ceil(math.sqrt(3) / 2 * scale + 0.5)
    offsets = torch.arange(-reach, reach + 1)
    column = (centres[:, 0] * scale + size / 2).floor().long()[:, None, None] + offsets[None, None]
    row = (size / 2 - centres[:, 1] * scale).floor().long()[:, None, None] + offsets[None, :, None]
    column, row = torch.broadcast_tensors(column, row)  # (N, K, K)
    # slab test of the ray of each candidate pixel against its voxel's cube: along the
    # ray (camera -z), the cube's slab of world axis i spans t in h_i ± the offset term
    # (linear in the pixel's offset (u, v) from the centre, so per row and per column)
    u = (column[:, :1] + 0.5 - size / 2) / scale - centres[:, 0, None, None]  # (N, 1, K)
    v = (size / 2 - row[:, :, :1] - 0.5) / scale - centres[:, 1, None, None]  # (N, K, 1)
    direction = -turn[2]
    direction = torch.where(direction.abs() < 1e-6, torch.full_like(direction, 1e-6), direction)
    half = 0.5 / direction.abs()
    enter = leave = face = None
    for axis in range(3):
        offset = u * (turn[0, axis] / direction[axis]) + v * (turn[1, axis] / direction[axis])
        near, far = -half[axis] - offset, half[axis] - offset
        side = 2 * axis + int(direction[axis] > 0)  # the face the ray enters through
        if enter is None:
            enter, leave, face = near, far, torch.full(near.shape, side)
        else:
            face = torch.where(near > enter, side, face)
            enter, leave = torch.maximum(enter, near), torch.minimum(leave, far)
    inside = (enter <= leave) & (row >= 0) & (row < size) & (column >= 0) & (column < size)
    depth = (enter - centres[:, 2, None, None] + radius + 1)[inside]  # > 0
    index = torch.arange(len(ids))[:, None, None].expand_as(inside)[inside]
    key = ((depth * DEPTH_STEPS).long() * len(ids) + index) * 6 + face[inside]
    big = torch.iinfo(torch.long).max
    best = torch.full((size * size,), big, dtype=torch.long)
    best.scatter_reduce_(0, (row * size + column)[inside], key, reduce="amin")
    return torch.where(best == big, empty, best)


def _shade(face: torch.Tensor, depth: torch.Tensor, sizes, camera: Camera) -> torch.Tensor:
    """Brightness ``(S·S,)`` of each pixel's face: Lambert under :data:`LIGHT` over an
    ambient floor, dimmed with depth (0 at the volume's nearest point)."""
    turn = rotation(camera.yaw, camera.pitch)
    normals = torch.zeros(6, 3)
    for axis in range(3):  # face 2a: the +axis side; 2a + 1: the -axis side
        normals[2 * axis, axis], normals[2 * axis + 1, axis] = 1.0, -1.0
    light = torch.tensor(LIGHT)
    lambert = (normals @ turn.T @ (light / light.norm())).clamp(min=0)
    diameter = 2 * _radius(sizes)
    return (AMBIENT + (1 - AMBIENT) * lambert[face]) * (
        1 - DEPTH_DIMMING * ((depth - 1) / diameter).clamp(0, 1)
    )
