"""The viewer's WebSocket protocol: JSON commands in, state and frames out.

Page → server (text, JSON objects with a ``type``)::

    {"type": "pause"} | {"type": "play"} | {"type": "reset"}
    {"type": "step", "count": 1}
    {"type": "speed", "steps_per_frame": 2}
    {"type": "sigma", "value": 0.5}
    {"type": "damage", "x": 0.5, "y": 0.5, "radius": 0.1, "mode": "erase" | "noise"}
    {"type": "choose", "name": "image", "value": "#3 (7)"}
    {"type": "view", "mode": "output" | "hidden" | "attention", "channel": 0}
    {"type": "heads", "masked": [0, 2]}
    {"type": "rotate", "yaw": -30, "pitch": 25}                  (3-D runs, degrees)
    {"type": "slice", "axis": 0, "position": 5, "mode": "cut" | "plane"}   (axis -1: none)

Every number must be finite and at most :data:`MAX_MAGNITUDE` in size (JSON allows
``1e999``, ``NaN`` and integers of any length; none of them reaches a session).

Server → page: ``{"type": "state", ...}`` (:meth:`PlaySession.state`) after every
command, ``{"type": "error", "message": ...}`` for a bad one (the connection
stays open), and binary frames: a 12-byte little-endian header ``step`` (uint32),
``height``, ``width`` (uint16 each), ``fps`` ×100 (uint32), then ``height·width·4``
RGBA bytes.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

import torch

from nca.play.session import MAX_STEPS_PER_FRAME, PlaySession

FRAME_HEADER = struct.Struct("<IHHI")

#: type -> the fields it takes (name -> Python type(s)); every field is required
#: unless it has a default in :data:`DEFAULTS`.
COMMANDS: dict[str, dict[str, tuple[type, ...]]] = {
    "pause": {},
    "play": {},
    "reset": {},
    "step": {"count": (int,)},
    "speed": {"steps_per_frame": (int,)},
    "sigma": {"value": (int, float)},
    "damage": {"x": (int, float), "y": (int, float), "radius": (int, float), "mode": (str,)},
    "choose": {"name": (str,), "value": (str,)},
    "view": {"mode": (str,), "channel": (int,)},
    "heads": {"masked": (list,)},
    "rotate": {"yaw": (int, float), "pitch": (int, float)},
    "slice": {"axis": (int,), "position": (int,), "mode": (str,)},
}
DEFAULTS: dict[str, dict[str, Any]] = {
    "step": {"count": 1},
    "damage": {"mode": "erase"},
    "view": {"channel": 0},
    "slice": {"position": 0, "mode": "cut"},
}
#: The largest number a command may hold: larger ones (or inf, nan) are refused before
#: they reach a session (where a float conversion would overflow).
MAX_MAGNITUDE = 1e9


class BadCommand(ValueError):
    """A message the page should not have sent; its text goes back as an error."""


def parse_command(text: str) -> tuple[str, dict[str, Any]]:
    """Validate one message.

    Returns:
        ``(type, fields)`` with defaults filled in.

    Raises:
        BadCommand: not JSON, not an object, unknown type, or missing/extra/mistyped
            fields (the message names which, and what would be valid).
    """
    try:
        message = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise BadCommand(f"not JSON: {error.msg}") from None
    except RecursionError:
        raise BadCommand("not a command: nested too deeply") from None
    except ValueError:  # an integer of more than 4300 digits (Python's limit)
        raise BadCommand(f"a number is too large: at most {MAX_MAGNITUDE:g} in size") from None
    if not isinstance(message, dict):
        raise BadCommand(f"a command is a JSON object, got {type(message).__name__}")
    kind = message.pop("type", None)
    if not isinstance(kind, str) or kind not in COMMANDS:
        raise BadCommand(f"unknown command type {kind!r}; valid: {', '.join(COMMANDS)}")
    spec = COMMANDS[kind]
    fields = {**DEFAULTS.get(kind, {}), **message}
    extra = sorted(set(fields) - set(spec))
    if extra:
        raise BadCommand(f"{kind} takes {sorted(spec) or 'no fields'}, not {extra}")
    for name, types in spec.items():
        if name not in fields:
            raise BadCommand(f"{kind} needs the field {name!r}")
        value = fields[name]
        if isinstance(value, bool) or not isinstance(value, types):
            wanted = " or ".join(t.__name__ for t in types)
            raise BadCommand(f"{kind}.{name} must be {wanted}, got {_shown(value)}")
        for number in value if isinstance(value, list) else [value]:
            _check_magnitude(f"{kind}.{name}", number)
    return kind, fields


def _check_magnitude(where: str, value: Any) -> None:
    """A number must be finite and at most :data:`MAX_MAGNITUDE` in size."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    if isinstance(value, float) and not math.isfinite(value):
        raise BadCommand(f"{where} must be a finite number, got {value}")
    if abs(value) > MAX_MAGNITUDE:
        raise BadCommand(
            f"{where} is too large: at most {MAX_MAGNITUDE:g} in size, got {_shown(value)}"
        )


def _shown(value: Any, limit: int = 40) -> str:
    """``repr(value)`` cut to ``limit`` characters (a huge number is not echoed whole)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**limit:
        return f"an integer of {len(str(abs(value)))} digits"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def apply_command(session: PlaySession, kind: str, fields: dict[str, Any]) -> None:
    """Run a parsed command on a session (blocking: call it from a worker thread).

    Raises:
        BadCommand: the session refused a value (out of range, unknown option...).
    """
    try:
        if kind == "pause":
            session.set_paused(True)
        elif kind == "play":
            session.set_paused(False)
        elif kind == "reset":
            session.reset()
        elif kind == "step":
            if not 1 <= fields["count"] <= MAX_STEPS_PER_FRAME:  # the model lock is shared
                raise ValueError(
                    f"step.count must be in [1, {MAX_STEPS_PER_FRAME}], got {fields['count']}"
                )
            session.advance(fields["count"])
        elif kind == "speed":
            session.set_speed(fields["steps_per_frame"])
        elif kind == "sigma":
            session.set_sigma(fields["value"])
        elif kind == "damage":
            session.damage(fields["x"], fields["y"], fields["radius"], fields["mode"])
        elif kind == "choose":
            session.choose(fields["name"], fields["value"])
        elif kind == "view":
            session.set_view(fields["mode"], fields["channel"])
        elif kind == "heads":
            session.set_masked_heads(fields["masked"])
        elif kind == "rotate":
            session.set_camera(fields["yaw"], fields["pitch"])
        elif kind == "slice":
            session.set_slice(fields["axis"], fields["position"], fields["mode"])
    except ValueError as error:
        raise BadCommand(str(error)) from None


def encode_frame(step: int, rgba: torch.Tensor, fps: float) -> bytes:
    """A binary frame message: header + ``(H, W, 4)`` uint8 RGBA bytes."""
    height, width, _ = rgba.shape
    header = FRAME_HEADER.pack(step % 2**32, height, width, max(0, round(fps * 100)))
    return header + rgba.contiguous().numpy().tobytes()


def decode_frame(data: bytes) -> tuple[int, torch.Tensor, float]:
    """Inverse of :func:`encode_frame` (used by tests and the benchmark client)."""
    step, height, width, fps = FRAME_HEADER.unpack_from(data)
    pixels = torch.frombuffer(bytearray(data[FRAME_HEADER.size :]), dtype=torch.uint8)
    return step, pixels.view(height, width, 4), fps / 100
