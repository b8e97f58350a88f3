"""Which ``Host`` headers the viewer answers: a guard against DNS rebinding.

A web page of another site can point its own host name at 127.0.0.1 (DNS rebinding)
and then talk to the viewer as if it were that site: the browser sends that site's
name in ``Host`` and, for a WebSocket, in ``Origin`` too, so an Origin check alone
passes. The viewer therefore answers only requests whose ``Host`` names it:

* bound to loopback (``127.0.0.1``, ``::1``, ``localhost``): ``localhost`` and any
  loopback address;
* bound to every interface (``0.0.0.0``, ``::``): ``localhost`` and any IP address
  (an address typed in the browser cannot be rebound; names can);
* bound to one address or name: that one;

and, in every case, the names given with ``--allow-host``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

WILDCARDS = ("", "0.0.0.0", "::")


def host_name(header: str) -> str:
    """The name in a ``Host`` header, lower case, without its port, brackets or final
    dot: ``[::1]:8765`` -> ``::1``, ``Example.COM.:80`` -> ``example.com``."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    if header.count(":") == 1:
        header = header.split(":", 1)[0]
    return header.rstrip(".")


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name)
    except ValueError:
        return None


@dataclass(frozen=True)
class HostCheck:
    """The ``Host`` headers a viewer bound to ``bind`` answers.

    Attributes:
        bind: The address or name the server listens on.
        allowed: More host names to answer (``--allow-host``), in any case.
    """

    bind: str = "127.0.0.1"
    allowed: tuple[str, ...] = ()

    def allows(self, header: str | None) -> bool:
        """Whether a request with this ``Host`` header (``None``: none) is answered."""
        if not header:
            return False
        name = host_name(header)
        if name in {host_name(a) for a in self.allowed}:
            return True
        bind, address = host_name(self.bind), _ip(name)
        bound = _ip(bind)
        if bind in WILDCARDS:
            return name == "localhost" or address is not None
        if bind == "localhost" or (bound is not None and bound.is_loopback):
            return name == "localhost" or (address is not None and address.is_loopback)
        return name == bind or (address is not None and address == bound)

    def refusal(self, header: str | None) -> str:
        """The one-line reason a request with this ``Host`` header is refused."""
        if not header:
            return "403 Forbidden: the request has no Host header"
        name = host_name(header)
        return (
            f"403 Forbidden: host {name!r} is not this viewer's address (it listens on "
            f"{self.bind or '0.0.0.0'}); to answer it, start nca play with --allow-host {name}"
        )
