"""``nca play``: an interactive, live view of any trained run in a web page.

* :mod:`~nca.play.playground` — what a task supplies (seed, picture, choices);
* :mod:`~nca.play.session` — one tab's grid and settings (damage, σ, views);
* :mod:`~nca.play.protocol` — the WebSocket messages;
* :mod:`~nca.play.server` — the aiohttp server (optional extra ``[play]``);
* :mod:`~nca.play.loader` — a run directory to a playable target.
"""

from nca.play.playground import PlayChoice, Playground

__all__ = ["PlayChoice", "Playground"]
