"""The ``nca`` command line (click + rich). Importing it does not import torch."""

from nca.cli.app import cli, main

__all__ = ["cli", "main"]
