"""Errors a user can act on; the CLI prints them as one line (``nca --debug`` for tracebacks)."""

from __future__ import annotations


class NCAError(Exception):
    """Base of errors whose message says what went wrong and what to do."""
