"""The viewer's HTTP routes and WebSocket protocol, driven by an aiohttp client."""

import asyncio
import json
import re
from collections import Counter
from pathlib import Path

import pytest
import torch

aiohttp = pytest.importorskip("aiohttp", reason="the viewer's server needs aiohttp ([play])")

from nca.play.loader import load_play_target  # noqa: E402
from nca.play.protocol import BadCommand, decode_frame, parse_command  # noqa: E402
from nca.play.server import ViewerThread  # noqa: E402

#: A URL the browser would fetch: an external script, stylesheet or module import.
REMOTE_ASSET = r"(src|href)=[\"']?https?://|import .* from [\"']https?:|url\(\s*[\"']?https?:"
LIZARD = Path(__file__).parent / "data" / "grow-lizard-quick.pt"


@pytest.fixture(scope="module")
def viewer():
    with ViewerThread(load_play_target(LIZARD), max_fps=60) as running:
        yield running


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 60))


async def next_frame(ws):
    while True:
        message = await ws.receive()
        if message.type == aiohttp.WSMsgType.BINARY:
            return decode_frame(message.data)
        if message.type != aiohttp.WSMsgType.TEXT:
            raise AssertionError(f"socket closed: {message}")


async def collect(ws, seconds):
    """Every state message and frame that arrives within ``seconds``."""
    states, frames = [], []
    while True:
        try:
            message = await ws.receive(timeout=seconds)
        except asyncio.TimeoutError:
            return states, frames
        if message.type == aiohttp.WSMsgType.BINARY:
            frames.append(decode_frame(message.data))
        elif message.type == aiohttp.WSMsgType.TEXT:
            states += [m for m in [json.loads(message.data)] if m["type"] == "state"]
        else:
            raise AssertionError(f"socket closed: {message}")


async def next_json(ws, kind):
    while True:
        message = await ws.receive()
        if message.type == aiohttp.WSMsgType.TEXT and json.loads(message.data)["type"] == kind:
            return json.loads(message.data)
        if message.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
            raise AssertionError(f"socket closed: {message}")


def test_page_assets_and_errors(viewer):
    async def main():
        async with aiohttp.ClientSession() as http:
            async with http.get(viewer.url) as page:
                html = await page.text()
                assert page.status == 200 and "viewer.js" in html
                # before the first frame the page says it is connecting, not "step 0 · 0 fps"
                assert '<span id="step">connecting…</span>' in html and "0 fps" not in html
            for name in ("viewer.js", "viewer.css"):
                async with http.get(f"{viewer.url}static/{name}") as asset:
                    text = await asset.text()
                    assert asset.status == 200
                    # offline: no asset is fetched from anywhere but this server
                    assert not re.search(REMOTE_ASSET, text)
            assert not re.search(REMOTE_ASSET, html)
            async with http.get(f"{viewer.url}static/../server.py") as escape:
                assert escape.status == 404
            async with http.get(f"{viewer.url}static/secret.py") as unknown:
                assert unknown.status == 404 and "404 Not Found" in (await unknown.json())["error"]
            async with http.post(f"{viewer.url}api/info") as wrong_method:
                assert wrong_method.status == 405
            async with http.get(f"{viewer.url}api/info") as info:
                facts = await info.json()
                assert facts["task"] == "grow" and facts["rule"] == "convca"

    run(main())


def test_frames_commands_and_errors_over_the_socket(viewer):
    async def main():
        async with aiohttp.ClientSession() as http, http.ws_connect(f"{viewer.url}ws") as ws:
            state = await next_json(ws, "state")
            assert state["run"]["task"] == "grow" and state["grid"] == [32, 28]
            steps = [(await next_frame(ws))[0] for _ in range(5)]
            assert steps == sorted(steps) and steps[-1] > steps[0]
            _, pixels, _ = await next_frame(ws)
            assert pixels.shape == (32, 28, 4)

            await ws.send_str("{not json")
            assert (await next_json(ws, "error"))["message"].startswith("not JSON")
            await ws.send_str(json.dumps({"type": "sigma", "value": 2}))
            assert "must be in (0, 1]" in (await next_json(ws, "error"))["message"]
            await ws.send_bytes(b"\x00")
            assert "JSON text" in (await next_json(ws, "error"))["message"]

            await ws.send_str(json.dumps({"type": "pause"}))
            await asyncio.sleep(0.3)
            states, _ = await collect(ws, 0.5)  # what was under way when it paused
            assert states[-1]["paused"] is True
            paused_at = states[-1]["step"]
            await ws.send_str(json.dumps({"type": "step", "count": 1}))
            states, frames = await collect(ws, 1.0)
            assert [s["step"] for s in states] == [paused_at + 1]
            assert [f[0] for f in frames] == [paused_at + 1]  # one step, one frame, then quiet

            await ws.send_str(json.dumps({"type": "damage", "x": 0.5, "y": 0.5, "radius": 0.2}))
            _, frames = await collect(ws, 0.5)
            ((_, damaged, _),) = frames
            assert (damaged[16, 14, :3] == 255).all()  # erased cells are dead: white

            await ws.send_str(json.dumps({"type": "reset"}))
            states, frames = await collect(ws, 0.5)
            assert states[-1]["step"] == 0 and [f[0] for f in frames] == [0]

    run(main())


def test_closed_tabs_stop_and_tabs_do_not_share_state(viewer):
    async def main():
        async with aiohttp.ClientSession() as http:
            one = await http.ws_connect(f"{viewer.url}ws")
            two = await http.ws_connect(f"{viewer.url}ws")
            await next_json(one, "state")
            await next_json(two, "state")
            for ws in (one, two):
                await ws.send_str(json.dumps({"type": "pause"}))
                await next_json(ws, "state")
                await ws.send_str(json.dumps({"type": "reset"}))
                await next_json(ws, "state")
            await collect(two, 0.3)
            await one.send_str(json.dumps({"type": "sigma", "value": 1.0}))
            await one.send_str(json.dumps({"type": "step", "count": 30}))
            states_one, _ = await collect(one, 0.5)
            assert states_one[-1]["step"] == 30 and states_one[-1]["sigma"] == 1.0
            await two.send_str(json.dumps({"type": "step", "count": 1}))
            states_two, frames_two = await collect(two, 0.5)
            assert states_two[-1]["step"] == 1 and states_two[-1]["sigma"] == 0.5
            assert [f[0] for f in frames_two] == [1]
            assert viewer.connections() == 2
            await one.close()
            for _ in range(50):
                if viewer.connections() == 1:
                    break
                await asyncio.sleep(0.05)
            assert viewer.connections() == 1  # its loop is gone with it
            await two.close()
            for _ in range(50):
                if viewer.connections() == 0:
                    break
                await asyncio.sleep(0.05)
            assert viewer.connections() == 0

    run(main())


def test_commands_are_validated_before_they_reach_the_session():
    assert parse_command('{"type": "step"}') == ("step", {"count": 1})
    assert parse_command('{"type": "damage", "x": 0, "y": 1, "radius": 0.1}')[1]["mode"] == "erase"
    bad = {
        "[1, 2]": "a command is a JSON object, got list",
        '{"type": "explode"}': "unknown command type 'explode'; valid: pause, play",
        '{"type": "sigma"}': "sigma needs the field 'value'",
        '{"type": "sigma", "value": true}': "sigma.value must be int or float, got True",
        '{"type": "pause", "now": 1}': "pause takes no fields, not ['now']",
        '{"type": "view", "mode": 3}': "view.mode must be str, got 3",
        '{"type": []}': "unknown command type []",
        '{"type": {"a": 1}}': "unknown command type {'a': 1}",
        "[" * 50_000: "not a command: nested too deeply",
    }
    for text, message in bad.items():
        with pytest.raises(BadCommand) as error:
            parse_command(text)
        assert str(error.value).startswith(message), (text, str(error.value))


def test_bad_commands_keep_the_tab_and_resend_its_state(viewer):
    async def main():
        async with aiohttp.ClientSession() as http, http.ws_connect(f"{viewer.url}ws") as ws:
            await next_json(ws, "state")
            for bad in ('{"type": []}', "[" * 50_000, '{"type": "step", "count": 65}'):
                await ws.send_str(bad)
                error = await next_json(ws, "error")
                assert error["message"] and "Traceback" not in error["message"]
                assert (await next_json(ws, "state"))["type"] == "state"  # the page resyncs
            await ws.send_str(json.dumps({"type": "sigma", "value": 0.25}))
            assert (await next_json(ws, "state"))["sigma"] == 0.25  # still usable
            assert "step.count must be in [1, 64]" in error["message"]

    run(main())


def test_other_origins_cannot_open_a_socket(viewer):
    async def main():
        async with aiohttp.ClientSession() as http:
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await http.ws_connect(f"{viewer.url}ws", headers={"Origin": "http://evil.test"})
            assert refused.value.status == 403
            same = f"http://127.0.0.1:{viewer.port}"
            async with http.ws_connect(f"{viewer.url}ws", headers={"Origin": same}) as ws:
                assert (await next_json(ws, "state"))["type"] == "state"

    run(main())


def test_a_closed_tab_stops_stepping(viewer, monkeypatch):
    from nca.play.session import PlaySession

    started, finished = Counter(), Counter()  # advance calls, by session
    advance = PlaySession.advance

    def counted(self, *args):
        started[id(self)] += 1
        try:
            return advance(self, *args)
        finally:
            finished[id(self)] += 1

    monkeypatch.setattr(PlaySession, "advance", counted)

    async def until(condition):  # run() bounds every wait (60 s)
        while not condition():
            await asyncio.sleep(0.01)

    async def main():
        await until(lambda: viewer.connections() == 0)  # earlier tests' tabs are gone
        async with aiohttp.ClientSession() as http:
            closing = await http.ws_connect(f"{viewer.url}ws")
            for _ in range(5):
                await next_frame(closing)
            (tab,) = started
            staying = await http.ws_connect(f"{viewer.url}ws")
            await next_json(staying, "state")
            await closing.close()
            await until(lambda: viewer.connections() == 1)
            await until(lambda: finished[tab] == started[tab])  # a tick under way may end
            stopped = started[tab]
            await until(lambda: len(started) == 2)
            (other,) = set(started) - {tab}
            ticks = started[other] + 10
            while started[other] < ticks:  # the open tab steps on, as a closed one's would
                await next_frame(staying)
            assert started[tab] == stopped
            await staying.close()

    run(main())


def test_a_frame_round_trips():
    from nca.play.protocol import encode_frame

    pixels = torch.randint(0, 256, (5, 7, 4), dtype=torch.uint8)
    step, decoded, fps = decode_frame(encode_frame(12, pixels, 29.97))
    assert step == 12 and torch.equal(decoded, pixels) and fps == pytest.approx(29.97)
