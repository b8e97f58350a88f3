"""One viewer tab's simulation: its own grid, σ, speed, damage brush and view.

Sessions share the model but nothing else. The rule's attention recording and
head masks are module state, so every rule call holds the model's lock and sets
this session's head mask first: two tabs never see each other's settings.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

import torch

from nca.analysis.splat import colour_heads, splat_attention
from nca.core.random import make_generator
from nca.core.update import check_update_rate
from nca.play.playground import Playground, as_rgb

View = Literal["output", "hidden", "attention"]
VIEWS: tuple[str, ...] = ("output", "hidden", "attention")
DAMAGE_MODES: tuple[str, ...] = ("erase", "noise")
#: Steps per frame the page may ask for.
MAX_STEPS_PER_FRAME = 64


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
    """

    sigma: float
    steps_per_frame: int = 1
    paused: bool = False
    view: View = "output"
    channel: int = 0
    masked_heads: tuple[int, ...] = ()


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
        self.reset()

    def _capabilities(self) -> Capabilities:
        supports = getattr(type(self.rule), "supports", None)
        heads = self.rule.head_count() if supports and supports("head_masking") else 0
        attention = bool(supports and supports("attention_maps"))
        return Capabilities(self.layout.hidden_channels, heads, attention)

    # ----------------------------------------------------------------- state
    def reset(self) -> None:
        """Back to the playground's seed, step 0 (settings are kept)."""
        with self._lock, self._model_lock, torch.no_grad():
            self.cells = self.playground.seed()
            self.step_count = 0
            self._generator = make_generator(self._seed, self.cells.device)

    def advance(self, steps: int | None = None) -> int:
        """Run ``steps`` CA steps (default: ``steps_per_frame``) at this tab's σ.

        Returns:
            The step count afterwards.
        """
        with self._lock:
            steps = self.settings.steps_per_frame if steps is None else steps
            if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= 4096:
                raise ValueError(f"steps must be an integer in [1, 4096], got {steps!r}")
            with self._model_lock, torch.no_grad():
                self._apply_heads()
                self.cells = self.automaton(
                    self.cells, steps, generator=self._generator, update_rate=self.settings.sigma
                ).cells
            self.step_count += steps
            return self.step_count

    def damage(self, x: float, y: float, radius: float, mode: str = "erase") -> int:
        """Damage a disc of cells: ``erase`` zeroes their output and hidden channels
        (the regenerating article's damage); ``noise`` fills them with U(-1, 1)
        (the paper's, §4.1.2). Input and positional channels are kept.

        Args:
            x: Centre's column as a fraction of the image's width, in [0, 1].
            y: Centre's row as a fraction of the image's height, in [0, 1].
            radius: Radius as a fraction of the image's shorter side, in (0, 1]. With
                patches, a cell is damaged when its patch's centre is in the disc.
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
            # in image pixels: a cell of a P_H x P_W patch sits at its patch's centre
            _, _, height, width = self.cells.shape
            p_h, p_w = self.layout.patch_size
            rows = (torch.arange(height, device=self.cells.device).view(-1, 1) + 0.5) * p_h
            cols = (torch.arange(width, device=self.cells.device).view(1, -1) + 0.5) * p_w
            image_h, image_w = height * p_h, width * p_w
            reach = radius * min(image_h, image_w)
            disc = (rows - y * image_h) ** 2 + (cols - x * image_w) ** 2 <= reach**2
            updatable = self.cells[:, self.layout.updatable_slice]
            if mode == "erase":
                values = torch.zeros_like(updatable)
            else:
                noise = torch.rand(updatable.shape, generator=self._cpu_generator())
                values = (noise * 2 - 1).to(updatable)
            self.cells = self.cells.clone()
            self.cells[:, self.layout.updatable_slice] = torch.where(disc, values, updatable)
            return int(disc.sum())

    def _cpu_generator(self) -> torch.Generator:
        if not hasattr(self, "_brush_generator"):
            self._brush_generator = torch.Generator().manual_seed(self._seed + 1)
        return self._brush_generator

    def choose(self, name: str, value: str) -> None:
        """Apply one of the playground's choices (e.g. another test image)."""
        with self._lock, self._model_lock, torch.no_grad():
            self.cells = self.playground.choose(name, value, self.cells)

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
        with self._lock, self._model_lock, torch.no_grad():
            step, view = self.step_count, self.settings.view
            if view == "hidden":
                rgb = self._hidden_rgb(self.settings.channel)
            elif view == "attention":
                rgb = self._attention_rgb()
            else:
                rgb = as_rgb(self.playground.render(self.cells))
        rgb = rgb.detach().float().cpu().clamp(0, 1)
        alpha = torch.ones_like(rgb[:1])
        return step, (torch.cat([rgb, alpha]) * 255).round().to(torch.uint8).permute(1, 2, 0)

    def _hidden_rgb(self, channel: int) -> torch.Tensor:
        """One hidden channel per cell: white at 0, red towards +1, blue towards -1."""
        value = self.cells[0, self.layout.slice("hidden").start + channel].float().clamp(-1, 1)
        p_h, p_w = self.layout.patch_size  # one colour per cell, at the image's size
        value = value.repeat_interleave(p_h, 0).repeat_interleave(p_w, 1)
        positive, negative = value.clamp(min=0), (-value).clamp(min=0)
        red = 1 - negative
        green = 1 - positive - negative
        blue = 1 - positive
        return torch.stack([red, green, blue])

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
            _, _, height, width = self.cells.shape
            return {
                "type": "state",
                "step": self.step_count,
                "sigma": s.sigma,
                "steps_per_frame": s.steps_per_frame,
                "paused": s.paused,
                "view": s.view,
                "channel": s.channel,
                "masked_heads": list(s.masked_heads),
                "grid": [height, width],
                "hidden_channels": caps.hidden_channels,
                "heads": caps.heads,
                "attention": caps.attention,
                "choices": [
                    {"name": c.name, "label": c.label, "options": list(c.options), "value": c.value}
                    for c in self.playground.choices()
                ],
            }
