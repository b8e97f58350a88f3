"""``nca pretrained [NAME]``: the models shipped with the package, ready to play with."""

from __future__ import annotations

import click

from nca.cli.console import make_console
from nca.cli.errors import user_errors

#: Metrics shown per model in the table; ``nca pretrained NAME`` shows them all.
SHOWN_METRICS = 6


@click.command("pretrained")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the manifest entries as JSON.")
def pretrained_command(name: str | None, as_json: bool) -> None:
    """List the pretrained models shipped with the toolkit: name, task, rule, evaluation
    numbers and size; with NAME, everything its manifest entry records.

    \b
    Use one by name wherever a run is accepted:
      nca play lizard                          damage it live in a browser
      nca eval lizard                          evaluate it (reports in runs/pretrained/)
      nca analyze regeneration lizard          its task's experiments
      nca export lizard --format onnx          its step function as ONNX
      nca train --task grow --rule convca --init-from lizard    fine-tune it
    """
    import json

    from nca.pretrained import get_pretrained, list_pretrained

    console = make_console()
    with user_errors():
        models = [get_pretrained(name)] if name else list_pretrained()
        if as_json:
            entries = [m.to_dict() for m in models]
            click.echo(json.dumps(entries[0] if name else entries, indent=2))
        elif name:
            _show_entry(console, models[0])
        elif models:
            console.print(_models_table(models))
        else:
            console.print("No pretrained models are installed (the package's manifest is empty).")


def _file_state(model) -> str:
    """``36.5 KB`` when the file matches its checksum, else what is wrong (in red)."""
    from nca.pretrained import PretrainedCorrupted, pretrained_path

    size = f"{model.size_bytes / 1024:,.1f} KB"
    try:
        pretrained_path(model.name)
    except PretrainedCorrupted:
        return f"{size} [red](damaged)[/red]"
    except FileNotFoundError:
        return f"{size} [red](missing)[/red]"
    return size


def _numbers(metrics: dict, limit: int | None = SHOWN_METRICS) -> str:
    """``psnr_T 28.1`` per line (NaN for ``None``), the first ``limit`` of them."""
    shown = list(metrics.items())[:limit] if limit else list(metrics.items())
    lines = [f"{k} {'nan' if v is None else format(v, '.4g')}" for k, v in shown]
    if limit and len(metrics) > limit:
        lines.append(f"... {len(metrics) - limit} more (nca pretrained NAME)")
    return "\n".join(lines)


def _models_table(models):
    from rich.table import Table

    table = Table(title="pretrained models (use by name: nca play NAME)", show_lines=True)
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("task", no_wrap=True)
    table.add_column("rule", no_wrap=True)
    table.add_column("evaluation")
    table.add_column("size", no_wrap=True, justify="right")
    table.add_column("description")
    for model in models:
        note = " [yellow](placeholder)[/yellow]" if model.placeholder else ""
        table.add_row(
            model.name,
            model.task,
            model.rule or "-",
            _numbers(model.evaluation.metrics),
            _file_state(model),
            model.description + note,
        )
    return table


def _show_entry(console, model) -> None:
    """Everything the manifest records about ``model``."""
    from nca.engine.report import metrics_table

    training, evaluation = model.training, model.evaluation
    placeholder = "[yellow](placeholder: not a properly trained model)[/yellow]"
    console.print(f"[bold]{model.name}[/bold] — {model.description}", highlight=False)
    if model.placeholder:
        console.print(placeholder)
    console.print(f"task {model.task}, rule {model.rule or '-'}", markup=False)
    console.print(f"trained by: {training.command}", markup=False)
    budget = f"preset {training.preset or '-'}, seed {training.seed}"
    console.print(
        f"  {budget}, {training.iterations} iterations, its {training.checkpoint} checkpoint, "
        f"on {training.device}, toolkit {model.toolkit_version}"
        + (f" ({training.commit[:12]})" if training.commit else ""),
        markup=False,
    )
    console.print(f"weights: {model.file}, {_file_state(model)}, sha256 {model.sha256}")
    settings = ", ".join(f"{k}={v}" for k, v in evaluation.overrides.items()) or "none"
    title = f"evaluation (seed {evaluation.seed}, on {evaluation.device}, overrides: {settings})"
    metrics = {k: float("nan") if v is None else v for k, v in evaluation.metrics.items()}
    console.print(metrics_table(title, metrics))
