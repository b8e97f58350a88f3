"""``nca info`` shows every option whole, with its description, at 80 columns."""

import pytest
from click.testing import CliRunner

from nca.cli import cli
from nca.cli.info_cmd import _rows
from nca.rules import list_rules, rule_info
from nca.tasks import list_tasks, task_info


def _fields(name: str):
    return task_info(name).fields if name in list_tasks() else rule_info(name).fields


@pytest.mark.parametrize("name", list_tasks() + list_rules())
def test_every_option_and_its_description_fit_80_columns(name):
    result = CliRunner().invoke(cli, ["info", name], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    for option, _type, _default, doc in _rows(_fields(name)):
        row = [line for line in lines if line.startswith(f"│ {option} ")]
        assert row, f"{option} is cut or missing"
        if doc:  # the description starts on the option's line
            assert doc.split()[0] in row[0], f"{option}: {doc.split()[0]!r} not in {row[0]!r}"


def test_nested_configs_get_a_row_per_field():
    rows = [r[0] for r in _rows(task_info("denoise").fields)]
    assert "fixed_point" in rows and "fixed_point.tol" in rows and "fixed_point.backward" in rows
