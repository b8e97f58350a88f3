"""One viewer tab's simulation: its own grid, σ, speed, damage brush and view.

Sessions share the model but nothing else. The rule's attention recording and
head masks are module state, so every rule call holds the model's lock and sets
this session's head mask first: two tabs never see each other's settings.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field, replace
from typing import Literal

import torch

from nca.analysis.splat import colour_heads, splat_attention
from nca.core.random import make_generator
from nca.core.update import check_update_rate
from nca.play.pictures import VOXEL_FRAME, SpaceTime, diverging, upsample, voxel_colours
from nca.play.playground import Playground, as_rgb
from nca.play.voxels import SLICE_MODES, Camera, VoxelPicture, render_voxels

View = Literal["output", "hidden", "attention"]
VIEWS: tuple[str, ...] = ("output", "hidden", "attention")
DAMAGE_MODES: tuple[str, ...] = ("erase", "noise")
#: Steps per frame the page may ask for.
MAX_STEPS_PER_FRAME = 64
#: Rows of a 1-D run's space-time diagram: twice the row's width, within these bounds.
DIAGRAM_ROWS = (64, 512)


@dataclass
class Settings:
    """What the user has set in this tab.

    Attributes:
        sigma: Cell update probability σ of the viewer's steps, in (0, 1].
        steps_per_frame: CA steps between two frames.
        paused: Whether the loop is stopped (``step`` messages still advance it).
        view: ``output`` (the task's picture), ``hidden`` (one hidden channel, blue
            below 0, red above) or ``attention`` (the splat map over the output).
        channel: The hidden channel shown by the ``hidden`` view.
        masked_heads: Attention heads zeroed in this tab (paper Fig. 7).
        camera: 3-D runs: the view angle and slice of the voxel picture.
    """

    sigma: float
    steps_per_frame: int = 1
    paused: bool = False
    view: View = "output"
    channel: int = 0
    masked_heads: tuple[int, ...] = ()
    camera: Camera = field(default_factory=Camera)


@dataclass
class Capabilities:
    """What this run's rule lets the page show."""

    hidden_channels: int
    heads: int = 0  # > 0: head masking is available
    attention: bool = False
    extras: dict = field(default_factory=dict)


class PlaySession:
    """Runs one grid of a :class:`Playground` under a tab's settings.

    Args:
        playground: The task's view of the model (owned by this session).
        model_lock: Held around every call of the (shared) rule.
        seed: Seed of the update masks and the noise brush.

    Thread safety: every public method takes the session's own lock, so the
    server may call them from worker threads.
    """

    def __init__(self, playground: Playground, model_lock: threading.Lock, seed: int = 0) -> None:
        self.playground = playground
        self.automaton = playground.automaton
        self.rule = self.automaton.rule
        self.layout = self.automaton.layout
        self._model_lock = model_lock
        self._lock = threading.Lock()
        self._seed = seed
        self.settings = Settings(sigma=self.automaton.update_rate)
        self.capabilities = self._capabilities()
        self.dims = self.layout.dims
        self._history: SpaceTime | None = None  # 1-D: the space-time diagram
        self.reset()

    def _capabilities(self) -> Capabilities:
        supports = getattr(type(self.rule), "supports", None)
        heads = self.rule.head_count() if supports and supports("head_masking") else 0
        # the splat map is an image: 2-D grids only
        attention = bool(supports and supports("attention_maps")) and self.layout.dims == 2
        return Capabilities(self.layout.hidden_channels, heads, attention)

    # ----------------------------------------------------------------- state
    def reset(self) -> None:
        """Back to the playground's seed, step 0 (settings are kept)."""
        with self._lock, self._model_lock, torch.no_grad():
            self.cells = self.playground.seed()
            self.step_count = 0
            self._generator = make_generator(self._seed, self.cells.device)
            if self.dims == 1:
                width = self.cells.shape[-1] * self.layout.patch_size[0]
                low, high = DIAGRAM_ROWS
                self._history = SpaceTime(max(low, min(high, 2 * width)))
                self._record_row()

    def _record_row(self, replace_last: bool = False) -> None:
        """1-D: add the grid as the diagram's newest row (the caller holds the locks)."""
        picture = as_rgb(self.playground.render(self.cells))
        if replace_last:
            self._history.replace_last(self.cells[0], picture)
        else:
            self._history.add(self.cells[0], picture)

    def advance(self, steps: int | None = None) -> int:
        """Run ``steps`` CA steps (default: ``steps_per_frame``) at this tab's σ; a 1-D
        run records every step as a row of its diagram.

        Returns:
            The step count afterwards.
        """
        with self._lock:
            steps = self.settings.steps_per_frame if steps is None else steps
            if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= 4096:
                raise ValueError(f"steps must be an integer in [1, 4096], got {steps!r}")
            with self._model_lock, torch.no_grad():
                self._apply_heads()
                for _ in range(steps if self.dims == 1 else 1):
                    self.cells = self.automaton(
                        self.cells, 1 if self.dims == 1 else steps, generator=self._generator,
                        update_rate=self.settings.sigma,
                    ).cells  # fmt: skip
                    if self.dims == 1:
                        self._record_row()
            self.step_count += steps
            return self.step_count

    def damage(self, x: float, y: float, radius: float, mode: str = "erase") -> int:
        """Damage the cells around the picture's point ``(x, y)``: ``erase`` zeroes
        their output and hidden channels (the regenerating article's damage); ``noise``
        fills them with U(-1, 1) (the paper's, §4.1.2). Input and positional channels
        are kept. The region is a disc in 2-D; in 3-D a ball around the voxel under the
        point (nothing when the point shows the background); in 1-D a segment of the
        current row around column ``x`` (``y`` is the diagram's time, ignored).

        Args:
            x: The point's column as a fraction of the picture's width, in [0, 1].
            y: The point's row as a fraction of the picture's height, in [0, 1].
            radius: Radius as a fraction of the grid image's shortest side, in (0, 1].
                With patches, a cell is damaged when its patch's centre is in it.
            mode: ``erase`` or ``noise``.

        Returns:
            How many cells were damaged.
        """
        for name, value, low_open in (("x", x, False), ("y", y, False), ("radius", radius, True)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"damage {name} must be a number, got {value!r}")
            if not (0 < value <= 1 if low_open else 0 <= value <= 1):
                raise ValueError(
                    f"damage {name} must be in {'(0, 1]' if low_open else '[0, 1]'}, got {value}"
                )
        if mode not in DAMAGE_MODES:
            raise ValueError(f"damage mode must be one of {DAMAGE_MODES}, got {mode!r}")
        with self._lock:
            centre = self._damage_centre(x, y)
            if centre is None:
                return 0
            image = self._image_size()
            region = self._ball(centre, radius * min(image))
            updatable = self.cells[:, self.layout.updatable_slice]
            if mode == "erase":
                values = torch.zeros_like(updatable)
            else:
                noise = torch.rand(updatable.shape, generator=self._cpu_generator())
                values = (noise * 2 - 1).to(updatable)
            self.cells = self.cells.clone()
            self.cells[:, self.layout.updatable_slice] = torch.where(region, values, updatable)
            if self.dims == 1:
                with self._model_lock, torch.no_grad():
                    self._record_row(replace_last=True)
            return int(region.sum())

    def _image_size(self) -> list[int]:
        """The grid's size in image pixels (voxels): cells times the patch, per axis."""
        return [n * p for n, p in zip(self.cells.shape[2:], self.layout.patch_size, strict=True)]

    def _damage_centre(self, x: float, y: float) -> tuple[float, ...] | None:
        """The damage's centre in image pixels (voxels), one coordinate per axis."""
        image = self._image_size()
        if self.dims == 1:
            return (x * image[0],)
        if self.dims == 2:
            return (y * image[0], x * image[1])
        picture = self._voxels()  # the current view: the voxel under the point
        side = picture.index.shape[0]
        voxel = int(picture.index[min(int(y * side), side - 1), min(int(x * side), side - 1)])
        if voxel < 0:
            return None
        depth, rest = divmod(voxel, image[1] * image[2])
        return (depth + 0.5, rest // image[2] + 0.5, rest % image[2] + 0.5)

    def _ball(self, centre: tuple[float, ...], reach: float) -> torch.Tensor:
        """The cells ``(*cells)`` whose patch centres lie within ``reach`` image pixels
        of ``centre``."""
        squared = torch.zeros((), device=self.cells.device)
        cells, patch = self.cells.shape[2:], self.layout.patch_size
        for axis, (n, p, c) in enumerate(zip(cells, patch, centre, strict=True)):
            position = (torch.arange(n, device=self.cells.device) + 0.5) * p - c
            shape = [1] * self.dims
            shape[axis] = n
            squared = squared + position.view(shape) ** 2
        return squared <= reach**2

    def _cpu_generator(self) -> torch.Generator:
        if not hasattr(self, "_brush_generator"):
            self._brush_generator = torch.Generator().manual_seed(self._seed + 1)
        return self._brush_generator

    def choose(self, name: str, value: str) -> None:
        """Apply one of the playground's choices (e.g. another test image)."""
        with self._lock, self._model_lock, torch.no_grad():
            self.cells = self.playground.choose(name, value, self.cells)
            if self.dims == 1:  # a new row: the diagram starts again from it
                self._history.clear()
                self._record_row()

    # -------------------------------------------------------------- settings
    def set_sigma(self, sigma: float) -> None:
        """σ of the following steps, in (0, 1]."""
        try:
            sigma = check_update_rate(sigma)
        except (TypeError, ValueError) as error:
            raise ValueError(str(error)) from None
        with self._lock:
            self.settings.sigma = sigma

    def set_speed(self, steps_per_frame: int) -> None:
        """CA steps between frames, in [1, :data:`MAX_STEPS_PER_FRAME`]."""
        if (
            isinstance(steps_per_frame, bool)
            or not isinstance(steps_per_frame, int)
            or not 1 <= steps_per_frame <= MAX_STEPS_PER_FRAME
        ):
            raise ValueError(
                f"steps_per_frame must be an integer in [1, {MAX_STEPS_PER_FRAME}], "
                f"got {steps_per_frame!r}"
            )
        with self._lock:
            self.settings.steps_per_frame = steps_per_frame

    def set_paused(self, paused: bool) -> None:
        with self._lock:
            self.settings.paused = bool(paused)

    def set_view(self, view: str, channel: int = 0) -> None:
        """Show ``output``, hidden channel ``channel``, or the ``attention`` splat map."""
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
        caps = self.capabilities
        if view == "hidden":
            if not caps.hidden_channels:
                raise ValueError("this rule's cells have no hidden channels")
            if isinstance(channel, bool) or not isinstance(channel, int):
                raise ValueError(f"hidden channel must be an integer, got {channel!r}")
            if not 0 <= channel < caps.hidden_channels:
                raise ValueError(
                    f"hidden channel {channel} out of range; valid: 0..{caps.hidden_channels - 1}"
                )
        if view == "attention" and not caps.attention:
            raise ValueError(
                f"rule {getattr(self.rule, 'rule_name', type(self.rule).__name__)!r} has no "
                f"attention maps (only rules with the attention_maps capability, e.g. vitca)"
            )
        with self._lock:
            self.settings.view = view  # type: ignore[assignment]
            self.settings.channel = channel if view == "hidden" else self.settings.channel

    def set_camera(self, yaw: float, pitch: float) -> None:
        """3-D: look from ``yaw`` degrees (any; kept in [-180, 180)) and ``pitch``
        degrees in [-90, 90]."""
        self._need_volume("rotate")
        for name, value in (("yaw", yaw), ("pitch", pitch)):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"{name} must be a number of degrees, got {value!r}")
            if not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number of degrees, got {value}")
        if not -90 <= pitch <= 90:
            raise ValueError(f"pitch must be in [-90, 90] degrees, got {pitch}")
        with self._lock:
            camera = self.settings.camera
            self.settings.camera = replace(camera, yaw=(yaw + 180) % 360 - 180, pitch=pitch)

    def set_slice(self, axis: int, position: int = 0, mode: str = "cut") -> None:
        """3-D: slice the picture at ``position`` along ``axis`` (0 front to back, 1 top
        to bottom, 2 left to right; -1: no slice). ``cut`` hides the voxels before the
        plane, ``plane`` shows only the plane."""
        self._need_volume("slice")
        if isinstance(axis, bool) or axis not in (-1, 0, 1, 2):
            raise ValueError(f"slice axis must be -1 (none), 0, 1 or 2, got {axis!r}")
        if mode not in SLICE_MODES:
            raise ValueError(f"slice mode must be one of {SLICE_MODES}, got {mode!r}")
        if axis >= 0:
            size = self.cells.shape[2 + axis] * self.layout.patch_size[axis]
            if isinstance(position, bool) or not isinstance(position, int):
                raise ValueError(f"slice position must be an integer, got {position!r}")
            if not 0 <= position < size:
                raise ValueError(
                    f"slice position {position} out of range for axis {axis}; valid: 0..{size - 1}"
                )
        with self._lock:
            camera = self.settings.camera
            self.settings.camera = replace(
                camera, slice_axis=axis, slice_position=max(position, 0), slice_mode=mode
            )

    def _need_volume(self, command: str) -> None:
        if self.dims != 3:
            raise ValueError(f"{command} needs a 3-D run; this run's grid is {self.dims}-D")

    def set_masked_heads(self, heads: list[int]) -> None:
        """Zero these attention heads in this tab's steps (``[]``: none)."""
        count = self.capabilities.heads
        if not count:
            raise ValueError("this rule has no attention heads to mask")
        if not isinstance(heads, (list, tuple)) or not all(
            isinstance(h, int) and not isinstance(h, bool) and 0 <= h < count for h in heads
        ):
            raise ValueError(f"heads must be a list of head indices in [0, {count}), got {heads!r}")
        with self._lock:
            self.settings.masked_heads = tuple(sorted(set(heads)))

    def _apply_heads(self) -> None:
        """Set this tab's head mask on the shared rule (the caller holds the model lock)."""
        if self.capabilities.heads:
            self.rule.mask_heads(list(self.settings.masked_heads))

    # ---------------------------------------------------------------- frames
    def frame(self) -> torch.Tensor:
        """The current view as RGBA bytes ``(H, W, 4)`` (``uint8``, CPU)."""
        return self.snapshot()[1]

    def snapshot(self) -> tuple[int, torch.Tensor]:
        """``(step, frame)`` read together (a reset cannot come between them)."""
        with self._lock:
            step = self.step_count
            if self.dims == 3:
                rgb = self._voxels().image
            else:
                with self._model_lock, torch.no_grad():
                    rgb = self._picture()
        rgb = rgb.detach().float().cpu().clamp(0, 1)
        alpha = torch.ones_like(rgb[:1])
        return step, (torch.cat([rgb, alpha]) * 255).round().to(torch.uint8).permute(1, 2, 0)

    def _picture(self) -> torch.Tensor:
        """RGB ``(3, H, W)`` of a 1-D or 2-D grid in the tab's view (the caller holds
        both locks)."""
        if self.dims == 1:
            return self._diagram()
        if self.settings.view == "hidden":
            return self._hidden_rgb(self.cells[0], self.settings.channel)
        if self.settings.view == "attention":
            return self._attention_rgb()
        return as_rgb(self.playground.render(self.cells))

    def _hidden_rgb(self, cells: torch.Tensor, channel: int) -> torch.Tensor:
        """One hidden channel of a grid ``(C, *cells)`` at the image's size, as RGB
        ``(3, *image)``: white at 0, red towards +1, blue towards -1."""
        value = cells[self.layout.slice("hidden").start + channel]
        return diverging(upsample(value, self.layout.patch_size))

    def _voxels(self) -> VoxelPicture:
        """3-D: the view of this tab's camera (the caller holds the session's lock; the
        model's is taken only to read the grid's picture, not to draw it)."""
        with self._model_lock, torch.no_grad():
            colours, solid = voxel_colours(self.playground.render(self.cells))
            if self.settings.view == "hidden":
                colours = self._hidden_rgb(self.cells[0], self.settings.channel)
        return render_voxels(colours, solid, self.settings.camera, VOXEL_FRAME)

    def _diagram(self) -> torch.Tensor:
        """1-D: the space-time diagram ``(3, rows, W)`` of the tab's view."""
        history = self._history
        if self.settings.view == "hidden":
            channel = self.settings.channel
            return history.picture([self._hidden_rgb(row, channel) for row in history.cells])
        return history.picture()

    def _attention_rgb(self) -> torch.Tensor:
        """Fig. 2's splat map of the next step's attention, blended over the output."""
        self._apply_heads()
        self.rule.record_attention()
        try:
            self.rule(self.cells)
            attention = self.rule.attention_maps()[-1]  # (1, H', W', heads, M)
        finally:
            self.rule.record_attention(False)
        colours = colour_heads(splat_attention(attention, self.rule.attention_neighbourhood()))
        base = as_rgb(self.playground.render(self.cells))
        colours = colours[0].float().clamp(0, 1)
        if colours.shape[-2:] != base.shape[-2:]:  # patches: one colour per cell
            colours = torch.nn.functional.interpolate(colours[None], size=base.shape[-2:])[0]
        return 0.5 * base + 0.5 * colours

    def state(self) -> dict:
        """This tab's settings and what its rule offers, for the page (JSON-ready)."""
        with self._lock:
            s, caps = self.settings, self.capabilities
            return {
                "type": "state",
                "step": self.step_count,
                "sigma": s.sigma,
                "steps_per_frame": s.steps_per_frame,
                "paused": s.paused,
                "view": s.view,
                "channel": s.channel,
                "masked_heads": list(s.masked_heads),
                "grid": list(self.cells.shape[2:]),
                "dims": self.dims,
                "volume": self._image_size(),
                "camera": vars(s.camera).copy() if self.dims == 3 else None,
                "hidden_channels": caps.hidden_channels,
                "heads": caps.heads,
                "attention": caps.attention,
                "choices": [
                    {"name": c.name, "label": c.label, "options": list(c.options), "value": c.value}
                    for c in self.playground.choices()
                ],
            }
