"""The viewer's web server (aiohttp): the page, its assets, and one WebSocket per tab.

Each WebSocket connection owns a :class:`~nca.play.session.PlaySession` and a
simulation loop; the loop stops when the tab closes (or stops answering the
heartbeat). Model calls run in worker threads so the event loop keeps serving
other tabs. All assets ship in the package (no CDN), so it works offline.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import threading
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

from nca.errors import NCAError
from nca.play.hosts import HostCheck
from nca.play.loader import PlayTarget
from nca.play.protocol import BadCommand, apply_command, encode_frame, parse_command
from nca.play.request_log import request_logger
from nca.play.session import PlaySession

#: Frames per second the loop aims for when running (the page can ask for fewer steps,
#: not more frames).
DEFAULT_MAX_FPS = 30.0
STATIC_FILES = {"index.html": "text/html", "viewer.js": "text/javascript",
                "viewer.css": "text/css"}  # fmt: skip
#: Longest error message sent to the page (a refused value is not echoed whole).
MAX_ERROR_CHARS = 300


def _aiohttp():
    try:
        from aiohttp import WSMsgType, web
    except ImportError:
        raise NCAError(
            "nca play needs aiohttp, which is not installed: pip install 'nca-toolkit[play]'"
        ) from None
    return web, WSMsgType


log = logging.getLogger("nca.play")
_KEYS: dict = {}


def connections_key():
    """The app key of the set of open tabs (``app[connections_key()]``)."""
    if "connections" not in _KEYS:
        web, _ = _aiohttp()
        _KEYS["connections"] = web.AppKey("connections", set)
    return _KEYS["connections"]


def _asset(name: str) -> bytes:
    return resources.files("nca.play").joinpath("static", name).read_bytes()


class _Connection:
    """One tab: its session, whether it has changed since the last frame, its frame rate."""

    def __init__(self, session: PlaySession) -> None:
        self.session = session
        self.dirty = True
        self.wake = asyncio.Event()
        self.fps = 0.0
        self._last_frame: float | None = None

    def changed(self) -> None:
        """A command changed the tab: draw it (at once if the loop is idle)."""
        self.dirty = True
        self.wake.set()

    def frame_sent(self, running: bool) -> None:
        """Update the frame rate, an average over about 10 frames while running."""
        now = time.perf_counter()
        if running and self._last_frame is not None:
            rate = 1.0 / max(now - self._last_frame, 1e-6)
            self.fps = 0.9 * (self.fps or rate) + 0.1 * rate
        self._last_frame = now if running else None

    async def idle(self) -> None:
        """Wait (paused) until a command changes the tab, or a second passes."""
        self.fps = 0.0
        self.wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.wake.wait(), timeout=1.0)


async def _json_errors(request, handler):
    """Middleware: HTTP errors as JSON ``{"error": "404 Not Found: GET /path"}``."""
    web, _ = _aiohttp()
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return web.json_response(
            {"error": f"{error.status} {error.reason}: {request.method} {request.path}"},
            status=error.status,
        )


class _Viewer:
    """The application's state (the run, each tab's loop settings, the open tabs) and
    its request handlers.

    Args:
        target: The loaded run.
        max_fps: Frame-rate cap of each tab's loop.
        seed: Seed of each tab's update masks and noise brush.
        hosts: The ``Host`` headers answered (DNS rebinding guard).
    """

    def __init__(self, target: PlayTarget, max_fps: float, seed: int, hosts: HostCheck) -> None:
        self.web, self.msg_type = _aiohttp()
        if not 0 < max_fps < float("inf"):
            raise ValueError(f"max_fps must be a finite number > 0, got {max_fps!r}")
        self.target = target
        self.hosts = hosts
        self.period = 1.0 / max_fps
        self.seed = seed
        self.connections: set[_Connection] = set()

    def application(self) -> Any:
        """The aiohttp application: the page, its assets, ``/api/info`` and ``/ws``."""
        web = self.web

        async def check_host(request, handler):  # aiohttp marks functions, not methods
            return await self._check_host(request, handler)

        app = web.Application(
            middlewares=[web.middleware(check_host), web.middleware(_json_errors)]
        )
        app[connections_key()] = self.connections
        app.add_routes([
            web.get("/", self.index),
            web.get("/static/{name}", self.static),
            web.get("/api/info", self.info),
            web.get("/ws", self.websocket),
        ])  # fmt: skip
        return app

    async def _check_host(self, request, handler):
        """Middleware: refuse a ``Host`` that is not this viewer's (DNS rebinding), for
        the page, its assets, the API and the WebSocket alike."""
        header = request.headers.get("Host")
        if not self.hosts.allows(header):
            refusal = self.hosts.refusal(header)
            log.info("nca play: %s", refusal)
            return self.web.json_response({"error": refusal}, status=403)
        return await handler(request)

    async def index(self, request):
        return self.web.Response(body=_asset("index.html"), content_type="text/html",
                                 headers={"Cache-Control": "no-store"})  # fmt: skip

    async def static(self, request):
        name = request.match_info["name"]
        if name not in STATIC_FILES:
            raise self.web.HTTPNotFound()
        return self.web.Response(body=_asset(name), content_type=STATIC_FILES[name],
                                 headers={"Cache-Control": "no-store"})  # fmt: skip

    async def info(self, request):
        return self.web.json_response({**self.target.describe(), "tabs": len(self.connections)})

    async def websocket(self, request):
        """One tab: its session and simulation loop, and its commands until it closes."""
        origin = request.headers.get("Origin")
        if origin is not None and origin.split("://", 1)[-1] != request.host:
            # another site open in the browser must not drive this viewer
            raise self.web.HTTPForbidden(reason=f"origin {origin} is not this viewer's")
        ws = self.web.WebSocketResponse(heartbeat=10.0, max_msg_size=1 << 16)
        await ws.prepare(request)
        try:
            await self._serve_tab(ws)
        except ConnectionError as error:  # the tab went away while we answered it (aiohttp's
            # ClientConnectionResetError is one): routine, not a server fault
            log.debug("nca play: a tab closed its connection (%s)", error or type(error).__name__)
        return ws

    async def _serve_tab(self, ws) -> None:
        """The tab's session, its simulation loop and its commands, until it closes."""
        session = await self._open_session(ws)
        if session is None:
            return
        connection = _Connection(session)
        self.connections.add(connection)
        loop_task = None
        try:
            state = await asyncio.to_thread(session.state)  # its lock may wait on a frame
            await ws.send_json({**state, "run": self.target.describe()})
            loop_task = asyncio.create_task(self.run_simulation(ws, connection))
            await self._receive(ws, connection)
        finally:
            if loop_task is not None:
                loop_task.cancel()
            self.connections.discard(connection)

    async def _receive(self, ws, connection: _Connection) -> None:
        """The tab's messages until it closes."""
        async for message in ws:
            if message.type == self.msg_type.TEXT:
                await self._command(ws, connection, message.data)
            elif message.type == self.msg_type.BINARY:
                await ws.send_json({"type": "error", "message": "commands are JSON text"})
            elif message.type == self.msg_type.ERROR:
                break

    async def _open_session(self, ws) -> PlaySession | None:
        """A new tab's session, or ``None`` once the page was told why there is none."""
        try:
            playground = await asyncio.to_thread(self.target.playground)
            return await asyncio.to_thread(
                PlaySession, playground, self.target.model_lock, self.seed
            )
        except Exception as error:  # a task that cannot build a grid: tell the page
            await ws.send_json({"type": "error", "message": f"cannot start: {error}"})
            await ws.close()
            return None

    async def _command(self, ws, connection: _Connection, text: str) -> None:
        """Apply one command of the page, then send the tab's state back."""
        session = connection.session
        try:
            kind, fields = parse_command(text)
            await asyncio.to_thread(apply_command, session, kind, fields)
        except BadCommand as error:
            await ws.send_json({"type": "error", "message": _one_line(str(error))})
        except Exception as error:  # a bug, not a bad request: log it
            log.exception("nca play: a command failed")
            message = f"the command failed: {type(error).__name__}: {error}"
            await ws.send_json({"type": "error", "message": _one_line(message)})
        else:
            connection.changed()
        # the state either way: the page puts back a control it was refused
        await ws.send_json(await asyncio.to_thread(session.state))

    async def simulate(self, ws, connection: _Connection) -> None:
        """Send a frame whenever the tab runs or changed, at most ``max_fps`` a second."""
        session = connection.session
        while not ws.closed:
            started = time.perf_counter()
            running = not session.settings.paused
            if running or connection.dirty:
                connection.dirty = False
                frame = await asyncio.to_thread(_tick, session, running, connection.fps)
                try:
                    await ws.send_bytes(frame)
                except (ConnectionError, RuntimeError):
                    return  # the tab went away mid-send
                connection.frame_sent(running)
            if running:
                await asyncio.sleep(max(0.0, self.period - (time.perf_counter() - started)))
            elif not connection.dirty:  # a command during the frame: draw it at once
                await connection.idle()

    async def run_simulation(self, ws, connection: _Connection) -> None:
        """The loop, reporting a failure to the page (and the log) instead of freezing."""
        try:
            await self.simulate(ws, connection)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            log.exception("nca play: the simulation loop failed")
            with contextlib.suppress(Exception):
                await ws.send_json({"type": "error", "message": f"the simulation stopped: "
                                    f"{type(error).__name__}: {error}"})  # fmt: skip
                await ws.close()


def _one_line(message: str) -> str:
    """An error for the page: its first line, at most :data:`MAX_ERROR_CHARS` long."""
    line = message.splitlines()[0] if message else message
    return line if len(line) <= MAX_ERROR_CHARS else line[: MAX_ERROR_CHARS - 3] + "..."


def create_app(
    target: PlayTarget,
    *,
    max_fps: float = DEFAULT_MAX_FPS,
    seed: int = 0,
    hosts: HostCheck | None = None,
) -> Any:
    """The aiohttp application serving ``target``.

    Args:
        target: The loaded run.
        max_fps: Frame-rate cap of each tab's loop.
        seed: Seed of each tab's update masks and noise brush.
        hosts: The ``Host`` headers it answers (default: a loopback server's).
    """
    return _Viewer(target, max_fps, seed, hosts or HostCheck()).application()


def _tick(session: PlaySession, running: bool, fps: float) -> bytes:
    """Advance a running session by its steps per frame, and encode its frame."""
    if running:
        session.advance()
    step, rgba = session.snapshot()
    return encode_frame(step, rgba, fps)


def address(host: str, port: int) -> str:
    """The URL to open for a server bound to ``host`` (IPv6 literals in brackets)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


class ViewerThread:
    """The viewer served from a background thread (tests, benchmarks, notebooks).

    Example:
        >>> with ViewerThread(target) as viewer:   # doctest: +SKIP
        ...     print(viewer.url)

    Args:
        target: The loaded run.
        host: Interface to bind (default loopback only).
        port: Port; 0 picks a free one.
        max_fps: Frame-rate cap of each tab.
        allow_hosts: More ``Host`` names to answer (see :mod:`nca.play.hosts`).
    """

    def __init__(
        self,
        target: PlayTarget,
        host: str = "127.0.0.1",
        port: int = 0,
        max_fps: float = DEFAULT_MAX_FPS,
        allow_hosts: tuple[str, ...] = (),
    ) -> None:
        self.app = create_app(target, max_fps=max_fps, hosts=HostCheck(host, tuple(allow_hosts)))
        self.host, self.port = host, port
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._serve, name="nca-play", daemon=True)

    @property
    def url(self) -> str:
        return address(self.host, self.port)

    def _serve(self) -> None:
        web, _ = _aiohttp()
        self._loop = asyncio.new_event_loop()
        runner = web.AppRunner(self.app, logger=request_logger())
        try:
            self._loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, self.host, self.port)
            self._loop.run_until_complete(site.start())
            self.port = site._server.sockets[0].getsockname()[1]
        except BaseException as error:  # e.g. the port is taken: raised in start()
            self._error = error
            self._ready.set()
            return
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.run_until_complete(runner.cleanup())
            self._loop.close()

    def start(self) -> ViewerThread:
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def connections(self) -> int:
        """Open tabs."""
        return len(self.app[connections_key()])

    def __enter__(self) -> ViewerThread:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def serve(
    target: PlayTarget,
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    max_fps: float = DEFAULT_MAX_FPS,
    allow_hosts: tuple[str, ...] = (),
    on_ready: Callable[[str], None] | None = None,
) -> None:
    """Serve until interrupted (Ctrl-C); ``on_ready(url)`` runs once it listens.

    Raises:
        NCAError: it cannot listen on ``host:port`` (one line saying why).
    """
    web, _ = _aiohttp()
    app = create_app(target, max_fps=max_fps, hosts=HostCheck(host, tuple(allow_hosts)))

    async def main() -> None:
        runner = web.AppRunner(app, logger=request_logger())
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as error:
            await runner.cleanup()
            raise NCAError(listen_error(host, port, error)) from None
        bound = site._server.sockets[0].getsockname()[1]
        if on_ready is not None:
            on_ready(address(host, bound))
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())


def listen_error(host: str, port: int, error: OSError) -> str:
    """Why the server cannot listen, and what to change: the address (not a name or
    address of this machine) or the port (taken, or reserved)."""
    reason = (error.strerror or str(error)).split(": ")[-1]
    if isinstance(error, socket.gaierror) or error.errno == errno.EADDRNOTAVAIL:
        return (
            f"cannot listen on {host}: not a valid address of this machine ({reason}); pass "
            f"--host with one of its addresses, e.g. 127.0.0.1 (this machine only) or 0.0.0.0 "
            f"(every interface)"
        )
    if error.errno in (errno.EACCES, errno.EPERM):
        return (
            f"cannot listen on {host}:{port} ({reason}): ports below 1024 need privileges; "
            f"pass another --port (0 picks a free one)"
        )
    return f"cannot listen on {host}:{port} ({reason}); pass another --port (0 picks a free one)"
