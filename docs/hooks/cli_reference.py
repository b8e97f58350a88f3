"""MkDocs hook: replace ``<!-- nca-cli-reference -->`` with the ``--help`` of every
``nca`` command, generated from the click app at build time (never hand-copied)."""

from __future__ import annotations

import click

MARKER = "<!-- nca-cli-reference -->"


def _help(command: click.Command, name: str, parent: click.Context | None = None) -> str:
    ctx = click.Context(
        command, info_name=name, parent=parent, terminal_width=100, max_content_width=100
    )
    text = [f"### `{ctx.command_path}`", "", "```text", command.get_help(ctx), "```", ""]
    if isinstance(command, click.Group):
        for sub_name in command.list_commands(ctx):
            text.append(_help(command.get_command(ctx, sub_name), sub_name, ctx))
    return "\n".join(text)


def on_page_markdown(markdown: str, **kwargs) -> str:
    if MARKER not in markdown:
        return markdown
    from nca.cli import cli

    return markdown.replace(MARKER, _help(cli, "nca"))
