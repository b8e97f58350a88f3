from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from nca.config import (
    ConfigError,
    build_config,
    coerce,
    config_fields,
    config_to_dict,
    load_config_file,
    parse_override,
    route_overrides,
)


@dataclass
class Cfg:
    """A config.

    Attributes:
        depth: Encoder blocks.
        rate: Update probability, a rather long description that
            continues on a second line.
        mode: Border handling.
        patch: Patch size.
        flag: A switch.
        maybe: Optional number.
    """

    depth: int = 1
    rate: float = 0.5
    mode: Literal["zero", "circular"] = "zero"
    patch: tuple[int, int] = (1, 1)
    flag: bool = False
    maybe: int | None = None
    tags: list[str] = field(default_factory=list)


def test_fields_with_docs_from_the_docstring():
    specs = {s.name: s for s in config_fields(Cfg)}
    assert specs["depth"].doc == "Encoder blocks."
    assert specs["rate"].doc.endswith("continues on a second line.")
    assert specs["mode"].type_name == "'zero' | 'circular'"
    assert specs["tags"].default == []


@pytest.mark.parametrize(
    ("value", "tp", "expected"),
    [
        ("3", int, 3),
        ("0.25", float, 0.25),
        (2, float, 2.0),
        ("true", bool, True),
        ("off", bool, False),
        ("3x3", tuple[int, int], (3, 3)),
        ("3,5", tuple[int, int], (3, 5)),
        ([2, 2], tuple[int, int], (2, 2)),
        ("none", int | None, None),
        ("4", int | None, 4),
        ("circular", Literal["zero", "circular"], "circular"),
        ("a.png", Path, Path("a.png")),
        ("(2,3)", tuple[int, ...], (2, 3)),
        ("4x1,1x4", tuple[tuple[int, int], ...], ((4, 1), (1, 4))),
        ("(4,1),(1,4)", tuple[tuple[int, int], ...], ((4, 1), (1, 4))),
        ("((4,1),(1,4))", tuple[tuple[int, int], ...], ((4, 1), (1, 4))),
        ("[[4,1],[1,4]]", tuple[tuple[int, int], ...], ((4, 1), (1, 4))),
        ("2x2", tuple[tuple[int, int], ...], ((2, 2),)),
    ],
)
def test_coerce(value, tp, expected):
    assert coerce(value, tp) == expected


@pytest.mark.parametrize(
    ("value", "tp", "message"),
    [
        ("abc", int, "expected an integer, got 'abc'"),
        (True, int, "expected an integer, got True"),
        ("maybe", bool, "expected a boolean"),
        ("1,2,3", tuple[int, int], r"tuple\[int, int\] \(2 values\)"),
        ("reflect", Literal["zero", "circular"], "'reflect' is not one of 'zero', 'circular'"),
        ("4,1", tuple[tuple[int, int], ...], r"x\[0\]: .*\(a sequence of sequences reads as 4x1"),
        ("((4,1)", tuple[tuple[int, int], ...], r"expected tuple\[tuple\[int, int\], \.\.\.\]"),
    ],
)
def test_coerce_errors_name_value_and_expectation(value, tp, message):
    with pytest.raises(ConfigError, match=message):
        coerce(value, tp, "x")


def test_build_config_over_base_and_unknown_key():
    base = build_config(Cfg, {"depth": "2"})
    cfg = build_config(Cfg, {"rate": "0.75"}, base=base)
    assert (cfg.depth, cfg.rate) == (2, 0.75)
    with pytest.raises(ConfigError, match="unknown option 'dept'. Did you mean 'depth'"):
        build_config(Cfg, {"dept": 3}, where="rule")
    assert config_to_dict(cfg)["patch"] == [1, 1]


def test_overrides_route_to_sections():
    routed = route_overrides(
        ["rule.depth=2", "rate=0.1", "task.batch=8"],
        {"rule": ["depth", "rate"], "task": ["batch", "depth"]},
    )
    assert routed == {"rule": {"depth": "2", "rate": "0.1"}, "task": {"batch": "8"}}
    with pytest.raises(ConfigError, match="ambiguous: both rule and task"):
        route_overrides(["depth=2"], {"rule": ["depth"], "task": ["depth"]})
    with pytest.raises(ConfigError, match="unknown override 'bach'. Did you mean 'batch'"):
        route_overrides(["bach=2"], {"rule": ["depth"], "task": ["batch"]})
    with pytest.raises(ConfigError, match="not of the form key=value"):
        parse_override("depth")


def test_config_files(tmp_path):
    toml = tmp_path / "run.toml"
    toml.write_text(
        'seed = 3\n[rule]\nname = "convca"\nhidden_channels = 8\n'
        '[task]\nname = "toy"\npreset = "tiny"\nbatch = 2\n'
    )
    loaded = load_config_file(toml)
    assert loaded["names"] == {"rule": "convca", "task": "toy", "preset": "tiny", "seed": 3}
    assert loaded["rule"] == {"hidden_channels": 8}
    assert loaded["task"] == {"batch": 2}
    bad = tmp_path / "bad.toml"
    bad.write_text("[model]\nx = 1\n")
    with pytest.raises(ConfigError, match="unknown top-level key 'model'"):
        load_config_file(bad)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config_file(tmp_path / "missing.toml")


@dataclass
class Outer:
    """Holds a nested config.

    Attributes:
        inner: A component's own config.
        size: A plain field.
    """

    inner: Cfg = field(default_factory=Cfg)
    size: int = 3


def test_nested_config_fields_one_by_one_or_as_a_table():
    base = build_config(Outer, {"inner.depth": "4", "size": "5"})
    assert (base.inner.depth, base.inner.rate, base.size) == (4, 0.5, 5)
    over = build_config(Outer, {"inner.rate": "0.25"}, base=base)  # keeps inner.depth
    assert (over.inner.depth, over.inner.rate) == (4, 0.25)
    table = build_config(Outer, {"inner": {"mode": "circular"}, "inner.flag": "true"})
    assert table.inner.mode == "circular" and table.inner.flag is True
    assert config_to_dict(over)["inner"]["depth"] == 4
    with pytest.raises(ConfigError, match=r"Outer\.inner: unknown option 'dpth'"):
        build_config(Outer, {"inner.dpth": "1"})
    with pytest.raises(ConfigError, match=r"Outer\.inner\.depth: 'x' is not an integer|integer"):
        build_config(Outer, {"inner.depth": "x"})
    routed = route_overrides(["inner.depth=2", "task.inner.rate=0.1"], {"task": ["inner", "size"]})
    assert routed == {"task": {"inner.depth": "2", "inner.rate": "0.1"}}
