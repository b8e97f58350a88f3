"""Every registered rule (and preset) is exercised through the registry."""

import dataclasses
import inspect

import pytest
import torch

from nca import CellularAutomaton, create_rule, list_rules, make_generator
from nca.config import ConfigError
from nca.registry import UnknownPluginError
from nca.rules import check_rule_class, get_rule_class, rule_info
from tests.conftest import activate

ALL_RULES = list_rules(presets=True)


def _images_for(rule, batch=2, size=16):
    channels = rule.config.image_channels
    return torch.rand(batch, channels, size, size, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", ALL_RULES)
def test_config_fields_match_constructor(name):
    cls = get_rule_class(name)
    check_rule_class(cls)
    fields = [f.name for f in dataclasses.fields(cls.config_class)]
    params = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    assert fields == params


@pytest.mark.parametrize("name", ALL_RULES)
def test_forward_backward_through_the_core(name):
    rule = create_rule(name)
    assert rule.rule_name == name.split(":")[0]
    images = _images_for(rule)
    if rule.kind == "ca":
        ca = CellularAutomaton(rule)
        cells = ca.seed(images)
        out = ca(cells, 4, generator=make_generator(0)).cells
        assert out.shape == cells.shape
        loss = (ca.output_image(out) - images).abs().mean()
    else:
        out = rule(images)
        assert out.shape == images.shape
        loss = (out - images).abs().mean()
    loss.backward()
    grads = [p.grad for p in rule.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", [n for n in ALL_RULES if get_rule_class(n).kind == "ca"])
def test_untrained_ca_rule_is_a_no_op(name):
    # zero-initialised last layer (paper): the first rollout leaves cells unchanged
    rule = create_rule(name)
    ca = CellularAutomaton(rule)
    cells = ca.seed(_images_for(rule))
    assert torch.equal(ca(cells, 3, generator=make_generator(0)).cells, cells)


@pytest.mark.parametrize("name", ALL_RULES)
def test_rule_info_describes_every_field(name):
    info = rule_info(name)
    assert info.summary
    undocumented = [f.name for f in info.fields if not f.doc]
    assert not undocumented, f"{name}: document {undocumented} in the config's Attributes section"


def test_convca_rgb_and_circular_padding():
    rule = activate(create_rule("convca", image_channels=3, padding="circular"))
    ca = CellularAutomaton(rule, update_rate=1.0)
    images = torch.rand(1, 3, 8, 8)
    out = ca(ca.seed(images), 2).cells
    shifted = ca(ca.seed(images.roll(3, dims=-1)), 2).cells
    # circular padding makes the rule translation-equivariant on the torus
    torch.testing.assert_close(out.roll(3, dims=-1), shifted)


def test_create_rule_errors():
    with pytest.raises(UnknownPluginError, match="rule 'convcaa' is not installed. Did you mean"):
        create_rule("convcaa")
    with pytest.raises(UnknownPluginError, match="no preset 'huge'; presets: convca:tiny"):
        create_rule("convca:huge")
    with pytest.raises(
        ConfigError, match="rule.padding: 'reflect' is not one of 'zeros', 'circular'"
    ):
        create_rule("convca", padding="reflect")
    with pytest.raises(ConfigError, match="rule: unknown option 'hiden_channels'. Did you mean"):
        create_rule("convca", hiden_channels=3)
    with pytest.raises(ConfigError, match="hidden_channels must be >= 0"):
        create_rule("convca", hidden_channels=-1)


def test_preset_then_overrides():
    rule = create_rule("convca:tiny", mlp_channels=7)
    assert rule.config.hidden_channels == 4 and rule.config.mlp_channels == 7


def test_rule_class_checks_catch_drifting_defaults_and_missing_fields():
    from dataclasses import dataclass

    from nca.rules import CARule

    @dataclass
    class Cfg:
        image_channels: int = 1
        width: int = 8

    class Drifted(CARule):
        config_class = Cfg

        def __init__(self, image_channels: int = 1, width: int = 16):
            super().__init__()

    with pytest.raises(TypeError, match="default of 'width' differs"):
        check_rule_class(Drifted)

    @dataclass
    class NoChannels:
        width: int = 8

    class Missing(CARule):
        config_class = NoChannels

        def __init__(self, width: int = 8):
            super().__init__()

    with pytest.raises(TypeError, match="needs an `image_channels` field"):
        check_rule_class(Missing)


def test_load_rule_round_trip(tmp_path):
    from nca.checkpoint import find_checkpoint, load_rule, run_dir_of, save_checkpoint
    from nca.config import config_to_dict

    rule = activate(
        create_rule("vitca", embed_dim=16, heads=2, hidden_channels=4, patch_size=(2, 2))
    )
    path = save_checkpoint(
        tmp_path / "run" / "checkpoints" / "last.pt",
        {
            "rule": {"name": "vitca", "config": config_to_dict(rule.config)},
            "model": rule.state_dict(),
        },
    )
    assert find_checkpoint(tmp_path / "run") == path
    assert run_dir_of(path) == tmp_path / "run"
    loaded = load_rule(path)
    assert loaded.config == rule.config and not loaded.training
    cells = CellularAutomaton(rule).seed(torch.rand(1, 1, 8, 8))
    torch.testing.assert_close(loaded(cells), rule(cells))
