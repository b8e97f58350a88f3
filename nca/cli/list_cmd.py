"""``nca list``: a table of installed rules, tasks and datasets, and the pretrained models
shipped with the package."""

from __future__ import annotations

import click

from nca.cli.console import make_console
from nca.cli.errors import user_errors

_KIND_LABEL = {"ca": "CA rule", "feedforward": "feed-forward"}


@click.command("list")
@click.argument("pattern", default="*", required=False)
@click.option(
    "--type",
    "what",
    type=click.Choice(["all", "rules", "tasks", "datasets", "pretrained"]),
    default="all",
    show_default=True,
    help="Show rules, tasks, datasets, pretrained models or all of them.",
)
def list_command(pattern: str, what: str) -> None:
    """List installed rules, tasks and datasets, and the pretrained models shipped with the
    toolkit (optionally filtered by a glob PATTERN). `nca pretrained` shows the models'
    evaluation numbers."""
    from rich.table import Table

    from nca.data import DATASETS
    from nca.rules import RULES
    from nca.tasks import TASKS

    console = make_console()
    title = "NCA toolkit pretrained models" if what == "pretrained" else "NCA toolkit plugins"
    table = Table(title=title, show_lines=False)
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("type", no_wrap=True)
    table.add_column("description")
    table.add_column("presets")
    table.add_column("provided by", no_wrap=True)
    rows = 0
    with user_errors():
        registries = [("rules", RULES), ("tasks", TASKS), ("datasets", DATASETS)]
        for label, registry in registries:
            if what not in ("all", label):
                continue
            for name in registry.names(pattern):
                entry = registry.entry(name)
                try:
                    obj = registry.load(name)
                except Exception as err:  # show broken plugins instead of failing the listing
                    table.add_row(
                        name, label[:-1], f"[red]failed to load: {err}[/red]", "", entry.provider
                    )
                else:
                    table.add_row(*_describe(name, label, obj), entry.provider)
                rows += 1
        if what in ("all", "pretrained"):
            rows += _add_pretrained(table, pattern)
    if rows:
        console.print(table)
    else:
        console.print(f"No {'plugins' if what == 'all' else what} match {pattern!r}.")


def _describe(name: str, label: str, obj) -> tuple[str, str, str, str]:
    """Name, type, description and presets of a loaded plugin."""
    if label == "datasets":
        shown = f"{name}:{obj.argument_name}" if obj.argument_name else name
        return shown, "dataset", obj.summary(), ""
    kind = _KIND_LABEL.get(getattr(obj, "kind", ""), "task")
    return name, kind, obj.summary(), ", ".join(obj.presets)


def _add_pretrained(table, pattern: str) -> int:
    """A row per shipped pretrained model whose name matches ``pattern``; how many."""
    import fnmatch

    from nca.pretrained import list_pretrained

    rows = 0
    for model in list_pretrained():
        if not fnmatch.fnmatchcase(model.name, pattern):
            continue
        about = f"{model.task} · {model.rule or '-'}: {model.description}"
        table.add_row(model.name, "pretrained", about, "", "nca-toolkit (nca pretrained)")
        rows += 1
    return rows
