"""The viewer's guards: Host headers (DNS rebinding), clients that drop the connection,
numbers that do not fit, and a 3-D run over the socket."""

import asyncio
import base64
import json
import logging
import os
import socket
import struct
import time
from pathlib import Path

import pytest

aiohttp = pytest.importorskip("aiohttp", reason="the viewer's server needs aiohttp ([play])")

from nca.play.loader import load_play_target  # noqa: E402
from nca.play.protocol import BadCommand, decode_frame, parse_command  # noqa: E402
from nca.play.server import ViewerThread  # noqa: E402

LIZARD = Path(__file__).parent / "data" / "grow-lizard-quick.pt"


@pytest.fixture(scope="module")
def viewer():
    target = load_play_target(LIZARD)
    with ViewerThread(target, max_fps=60, allow_hosts=("viewer.example",)) as running:
        yield running


def raw_request(port: int, path: str, host: str | None, websocket: bool = False) -> tuple[int, str]:
    """One HTTP/1.1 GET with exactly these headers: ``(status, body)``."""
    lines = [f"GET {path} HTTP/1.1"] + ([f"Host: {host}"] if host is not None else [])
    if websocket:
        key = base64.b64encode(os.urandom(16)).decode()
        lines += ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                  "Sec-WebSocket-Version: 13"]  # fmt: skip
    lines += ["Connection: close"] if not websocket else []
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data or (not websocket and not data.endswith(b"}")):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
            if websocket or data.startswith(b"HTTP/1.1 200"):
                break
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


@pytest.mark.parametrize("path", ["/", "/static/viewer.js", "/api/info", "/ws"])
def test_a_host_that_is_not_the_viewers_is_refused(viewer, path):
    websocket = path == "/ws"
    status, body = raw_request(viewer.port, path, f"evil.example:{viewer.port}", websocket)
    assert status == 403, body
    reason = json.loads(body)["error"]
    assert "host 'evil.example' is not this viewer's address" in reason
    assert "--allow-host evil.example" in reason and "\n" not in reason
    assert raw_request(viewer.port, path, None, websocket)[0] in (
        400,
        403,
    )  # no Host (aiohttp: 400)
    for good in (f"127.0.0.1:{viewer.port}", f"localhost:{viewer.port}", "viewer.example"):
        assert raw_request(viewer.port, path, good, websocket)[0] == (101 if websocket else 200)


@pytest.mark.parametrize(
    ("request_bytes", "reason"),
    [
        (b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", "Missing 'Host' header"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", "Invalid header"),
    ],
    ids=["no-host", "bad-header"],
)
def test_a_malformed_request_is_one_log_line_not_a_traceback(viewer, caplog, request_bytes,
                                                             reason):  # fmt: skip
    caplog.set_level(logging.DEBUG)
    with socket.create_connection(("127.0.0.1", viewer.port), timeout=30) as sock:
        sock.sendall(request_bytes)
        assert sock.recv(1024).startswith(b"HTTP/1.0 400")
    deadline = time.monotonic() + 10
    while not caplog.records and time.monotonic() < deadline:
        time.sleep(0.05)
    said = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert said and not any(r.exc_info for r in said), [r.getMessage() for r in said]
    line = said[0].getMessage()
    assert line.startswith("nca play: refused a malformed request from 127.0.0.1 (400: ")
    assert reason in line and "\n" not in line


def _websocket_frame(text: str) -> bytes:
    """A client's (masked) text frame."""
    payload, mask = text.encode(), os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return struct.pack("!BB", 0x81, 0x80 | len(payload)) + mask + masked


def test_a_client_that_drops_the_connection_leaves_one_debug_line(viewer, caplog):
    caplog.set_level(logging.DEBUG)
    for _ in range(5):
        sock = socket.create_connection(("127.0.0.1", viewer.port), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall((f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{viewer.port}\r\nUpgrade: websocket"
                      f"\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                      f"Sec-WebSocket-Version: 13\r\n\r\n").encode())  # fmt: skip
        assert b" 101 " in sock.recv(1024)
        sock.sendall(_websocket_frame('{"type": "reset"}'))
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # a reset, before the server answers the command
    deadline = time.monotonic() + 30
    while viewer.connections() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert not loud, [(r.name, r.getMessage(), r.exc_info and r.exc_info[0]) for r in loud]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"type": "sigma", "value": 1e999}', "sigma.value must be a finite number, got inf"),
        ('{"type": "sigma", "value": NaN}', "sigma.value must be a finite number, got nan"),
        ('{"type": "sigma", "value": %s}' % ("9" * 400),
         "sigma.value is too large: at most 1e+09 in size, got an integer of 400 digits"),
        ('{"type": "step", "count": %s}' % ("9" * 5000), "a number is too large"),
        ('{"type": "damage", "x": -Infinity, "y": 0, "radius": 0.1}',
         "damage.x must be a finite number, got -inf"),
        ('{"type": "heads", "masked": [1, %s]}' % ("9" * 400), "heads.masked is too large"),
        ('{"type": "rotate", "yaw": 1e300, "pitch": 0}', "rotate.yaw is too large"),
        ('{"type": "slice", "axis": 0, "position": -%s}' % ("9" * 30),
         "slice.position is too large"),
    ],
)  # fmt: skip
def test_numbers_that_do_not_fit_are_refused_by_the_protocol(text, message):
    with pytest.raises(BadCommand) as error:
        parse_command(text)
    assert str(error.value).startswith(message), str(error.value)
    assert len(str(error.value)) < 120


def test_numbers_that_do_not_fit_get_an_error_and_keep_the_tab(viewer):
    async def main():
        async with aiohttp.ClientSession() as http, http.ws_connect(f"{viewer.url}ws") as ws:
            await _next(ws, "state")
            for text in ('{"type": "sigma", "value": %s}' % ("9" * 400),
                         '{"type": "sigma", "value": 1e999}',
                         '{"type": "speed", "steps_per_frame": %s}' % ("9" * 5000)):  # fmt: skip
                await ws.send_str(text)
                error = await _next(ws, "error")
                assert "the command failed" not in error["message"], error
                await _next(ws, "state")
            await ws.send_str(json.dumps({"type": "sigma", "value": 0.25}))
            assert (await _next(ws, "state"))["sigma"] == 0.25

    asyncio.run(asyncio.wait_for(main(), 60))


async def _next(ws, kind):
    while True:
        message = await ws.receive()
        if message.type == aiohttp.WSMsgType.TEXT and json.loads(message.data)["type"] == kind:
            return json.loads(message.data)
        if message.type == aiohttp.WSMsgType.BINARY and kind == "frame":
            return decode_frame(message.data)
        if message.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            raise AssertionError(f"socket closed: {message}")


def test_a_3d_run_turns_and_slices_over_the_socket(make_run):
    async def main(viewer):
        async with aiohttp.ClientSession() as http, http.ws_connect(f"{viewer.url}ws") as ws:
            state = await _next(ws, "state")
            assert state["dims"] == 3 and state["volume"] == [12, 12, 12]
            await ws.send_str('{"type": "pause"}')
            await _next(ws, "state")
            await ws.send_str('{"type": "slice", "axis": 1, "position": 6, "mode": "plane"}')
            assert (await _next(ws, "state"))["camera"]["slice_mode"] == "plane"
            await ws.send_str('{"type": "rotate", "yaw": 45, "pitch": -20}')
            camera = (await _next(ws, "state"))["camera"]
            assert (camera["yaw"], camera["pitch"], camera["slice_axis"]) == (45, -20, 1)
            await ws.send_str('{"type": "rotate", "yaw": 0, "pitch": 95}')
            assert "pitch must be in [-90, 90]" in (await _next(ws, "error"))["message"]

    with ViewerThread(load_play_target(make_run("grow3d", "convca"))) as viewer:
        asyncio.run(asyncio.wait_for(main(viewer), 60))
