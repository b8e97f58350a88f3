"""``nca play lizard``: the viewer serves a shipped pretrained model by its name."""

import asyncio
import json

import pytest

aiohttp = pytest.importorskip("aiohttp", reason="the viewer's server needs aiohttp ([play])")

from nca.play.loader import load_play_target  # noqa: E402
from nca.play.protocol import decode_frame  # noqa: E402
from nca.play.server import ViewerThread  # noqa: E402
from nca.pretrained import get_pretrained, pretrained_path  # noqa: E402

NAME = "lizard"


def test_a_pretrained_name_is_served_and_runs():
    model = get_pretrained(NAME)
    target = load_play_target(NAME)
    assert target.checkpoint == pretrained_path(NAME)

    async def session(url):
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}api/info") as info:
                facts = await info.json()
            async with http.ws_connect(f"{url}ws") as ws:
                while True:
                    message = await ws.receive()
                    if message.type == aiohttp.WSMsgType.BINARY:
                        return facts, decode_frame(message.data)
                    if message.type != aiohttp.WSMsgType.TEXT:
                        raise AssertionError(f"socket closed: {message}")
                    json.loads(message.data)

    with ViewerThread(target, max_fps=60) as viewer:
        facts, (step, pixels, _) = asyncio.run(asyncio.wait_for(session(viewer.url), 60))
    assert facts["task"] == model.task and facts["rule"] == model.rule.split(":")[0]
    assert pixels.ndim == 3 and pixels.shape[-1] == 4 and step >= 0


def test_the_command_names_a_pretrained_model_by_its_name(monkeypatch):
    from click.testing import CliRunner

    import nca.play.server as server
    from nca.cli import cli

    def serve(target, *, on_ready, **_):
        on_ready("http://127.0.0.1:1/")

    monkeypatch.setattr(server, "serve", serve)
    result = CliRunner().invoke(cli, ["play", NAME, "--no-open"])
    assert result.exit_code == 0, result.output
    model = get_pretrained(NAME)
    assert f"{model.task} · convca · {NAME} (pretrained)" in result.output
    assert str(pretrained_path(NAME)) not in result.output
