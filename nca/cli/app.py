"""The ``nca`` command group. Heavy imports happen inside commands only, so
``nca --help`` and ``nca --version`` stay fast and torch-free."""

from __future__ import annotations

import os

import click

from nca import __version__
from nca.cli.analyze_cmd import analyze_command
from nca.cli.errors import debug_enabled, unexpected_error
from nca.cli.eval_cmd import eval_command
from nca.cli.export_cmd import export_command
from nca.cli.info_cmd import info_command
from nca.cli.list_cmd import list_command
from nca.cli.play_cmd import play_command
from nca.cli.pretrained_cmd import pretrained_command
from nca.cli.train_cmd import train_command
from nca.cli.warning_lines import show_warnings_as_lines


class NCAGroup(click.Group):
    """The command group; no command shows a Python traceback unless asked to.

    Errors the commands anticipate are already one-line ``ClickException``s
    (:func:`nca.cli.errors.user_errors`); any other exception becomes one line naming
    its type and message. Ctrl-C (``KeyboardInterrupt``), ``SystemExit`` and click's own
    exits pass through unchanged: the trainer handles Ctrl-C itself.
    """

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except Exception as err:
            if debug_enabled():
                raise
            raise unexpected_error(err) from err


@click.group(cls=NCAGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="nca")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
def cli(debug: bool) -> None:
    """Neural Cellular Automata toolkit: train and inspect NCA update rules.

    \b
    Quick start:
      nca play lizard                           a shipped pretrained model, live
      nca pretrained                            the pretrained models shipped
      nca list                                  rules, tasks and datasets installed
      nca info vitca                            a rule's options and presets
      nca info landcover                        what a dataset holds
      nca train --rule vitca --task denoise     train (see `nca train --help`)
      nca analyze damage runs/<run>             the paper's pictures from a run
      nca export runs/<run> --format onnx       the trained step function as ONNX
      nca play runs/<run>                       damage and watch it live in a browser
    """
    if debug:
        os.environ["NCA_DEBUG"] = "1"
    if not debug_enabled():
        show_warnings_as_lines()


cli.add_command(list_command)
cli.add_command(info_command)
cli.add_command(train_command)
cli.add_command(eval_command)
cli.add_command(analyze_command)
cli.add_command(export_command)
cli.add_command(play_command)
cli.add_command(pretrained_command)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="nca")
