"""Config files of the wrong shape: one error naming the file and what was expected."""

from __future__ import annotations

import pytest

from nca.config import ConfigError, load_config_file

#: (file name, contents, text the error must contain)
BAD_FILES = [
    ("list.json", "[1, 2]", "the top level must be a table ([rule], [task], seed, device"),
    ("string.json", '"denoise"', "got a str ('denoise')"),
    ("number.json", "3", "got an int (3)"),
    ("null.json", "null", "got a NoneType (None)"),
    ("rule_name.toml", '[rule]\nname = 3\n[task]\nname = "denoise"\n', "[rule] name must be"),
    ("task_name.json", '{"task": {"name": ["denoise"]}}', "[task] name must be a non-empty"),
    ("empty_name.toml", '[task]\nname = ""\n', "[task] name must be a non-empty string"),
    ("preset.toml", '[task]\nname = "denoise"\npreset = 1\n', "[task] preset must be"),
    ("rule_value.toml", 'rule = "vitca"\n', "rule must be a table ([rule] with its fields)"),
    ("task_list.json", '{"task": [1]}', "task must be a table"),
]


@pytest.mark.parametrize(("name", "text", "message"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_a_config_file_of_the_wrong_shape_names_the_file(tmp_path, name, text, message):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config_file(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)


def test_a_well_formed_file_still_reads(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('seed = 2\n[rule]\nname = "vitca"\n[task]\nname = "denoise"\npreset = "q"\n')
    read = load_config_file(path)
    assert read["names"] == {"seed": 2, "rule": "vitca", "task": "denoise", "preset": "q"}
