"""Every registered rule (and preset) is exercised through the registry."""

from dataclasses import dataclass

import pytest
import torch

from nca import CellularAutomaton, create_rule, list_rules, make_generator
from nca.config import ConfigError
from nca.registry import UnknownPluginError
from nca.rules import (
    CAPABILITIES,
    CARule,
    check_rule_class,
    get_rule_class,
    rule_info,
)
from tests.conftest import activate

ALL_RULES = list_rules(presets=True)


def _images_for(rule, batch=2, size=16):
    channels = rule.config.image_channels
    return torch.rand(batch, channels, size, size, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", ALL_RULES)
def test_rule_receives_its_config(name):
    cls = get_rule_class(name)
    check_rule_class(cls)
    rule = create_rule(name)
    config = rule.config
    assert type(config) is cls.config_class
    rebuilt = cls(config)  # the contract: __init__(self, config)
    assert rebuilt.config == config and rebuilt.config is not config  # a copy
    assert cls.from_config(config).config == config
    assert rebuilt.state_dict().keys() == rule.state_dict().keys()
    with pytest.raises(TypeError, match=f"{cls.__name__} needs a {cls.config_class.__name__}"):
        cls(object())
    with pytest.raises(TypeError, match="got dict"):
        cls({"image_channels": 1})


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


@dataclass
class _Cfg:
    image_channels: int = 1
    width: int = 8


def test_create_rule_builds_from_a_config_instance():
    config = create_rule("convca:tiny").config
    config.mlp_channels = 5
    rule = create_rule("convca", config, hidden_channels=3)
    assert rule.config.mlp_channels == 5 and rule.config.hidden_channels == 3
    assert rule.update_mlp[0].out_channels == 5
    with pytest.raises(
        TypeError, match="rule 'vitca' needs a ViTCAConfig config, got ConvCAConfig"
    ):
        create_rule("vitca", config)


def test_rule_class_checks_enforce_the_contract():
    class Good(CARule):
        config_class = _Cfg

        def __init__(self, config: _Cfg):
            super().__init__(config)

    check_rule_class(Good)
    assert Good(_Cfg(width=3)).config == _Cfg(width=3)
    with pytest.raises(TypeError, match="Good needs a _Cfg config, got int: 3"):
        Good(3)

    class OldStyle(CARule):  # the pre-contract form: config fields as arguments
        config_class = _Cfg

        def __init__(self, image_channels: int = 1, width: int = 16):
            super().__init__(_Cfg(image_channels, width))

    with pytest.raises(
        TypeError,
        match=r"OldStyle.__init__ must take one argument, its config: .*def __init__\(self, "
        r"config: _Cfg\)`.*takes config fields \['image_channels', 'width'\]",
    ):
        check_rule_class(OldStyle)

    class ExtraRequired(CARule):
        config_class = _Cfg

        def __init__(self, config, device):
            super().__init__(config)

    with pytest.raises(TypeError, match="must take one argument, its config"):
        check_rule_class(ExtraRequired)

    @dataclass
    class NoChannels:
        width: int = 8

    class Missing(CARule):
        config_class = NoChannels

    with pytest.raises(TypeError, match="needs an `image_channels` field"):
        check_rule_class(Missing)

    class BadPreset(CARule):
        config_class = _Cfg
        presets = {"wide": {"widht": 64}}

    with pytest.raises(TypeError, match="preset 'wide' of BadPreset sets unknown fields"):
        check_rule_class(BadPreset)


def test_capabilities_are_declared_and_checked():
    assert set(CAPABILITIES) == {"features", "head_masking", "attention_maps", "sparse_update"}
    declared = {name: get_rule_class(name).capabilities for name in list_rules()}
    assert declared == {
        "convca": frozenset(),
        "unet": {"features"},
        "unetca": frozenset(),
        "vit": {"features"},
        "vitca": {"head_masking", "attention_maps", "sparse_update"},
    }
    vitca = create_rule("vitca")
    assert vitca.supports("head_masking") and vitca.supports("attention_maps")
    assert not vitca.supports("features") and get_rule_class("unet").supports("features")
    assert rule_info("vit").capabilities == {"features"}
    with pytest.raises(
        ValueError,
        match="unknown rule capability 'heads'; valid: features, head_masking, attention_maps, "
        "sparse_update",
    ):
        vitca.supports("heads")

    class Unknown(CARule):
        config_class = _Cfg
        capabilities = frozenset({"features", "telepathy"})

    with pytest.raises(TypeError, match=r"unknown capabilities \['telepathy'\]; valid: features"):
        check_rule_class(Unknown)

    class NoMethod(CARule):
        config_class = _Cfg
        capabilities = frozenset({"attention_maps"})

        def record_attention(self, enabled: bool = True) -> None:
            pass

        def attention_neighbourhood(self):
            return None

        attention_maps = None  # not callable

    with pytest.raises(
        TypeError,
        match=r"NoMethod declares capability 'attention_maps' but does not define the "
        r"method\(s\) \['attention_maps'\]",
    ):
        check_rule_class(NoMethod)

    class AsString(CARule):
        config_class = _Cfg
        capabilities = "features"

    with pytest.raises(TypeError, match="must be a frozenset of capability names"):
        check_rule_class(AsString)


@pytest.mark.parametrize(
    "name", [n for n in list_rules() if get_rule_class(n).supports("features")]
)
def test_features_are_channels_first(name):
    rule = create_rule(name, image_channels=3)
    features = rule.features(torch.rand(2, 3, 16, 16))
    assert features.ndim == 4 and features.shape[0] == 2
    width = rule.config.embed_dim if name == "vit" else rule.config.features
    assert features.shape[1] == width  # (B, F, h, w)


def test_load_rule_round_trip(tmp_path):
    from nca.checkpoint import find_checkpoint, run_dir_of, save_checkpoint
    from nca.config import config_to_dict
    from nca.rules import load_rule

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


def test_convca_learned_perception_is_a_trained_3x3_convolution():
    rule = create_rule(
        "convca", image_channels=10, input_channels=1, hidden_channels=9,
        perception="learned", perception_channels=80, mlp_channels=80,
    )  # fmt: skip
    # Randazzo et al.'s notebook: 3x3 conv 20->80, 1x1 80->80, 1x1 80->19, biases: 22,499
    assert sum(p.numel() for p in rule.parameters()) == 22_499
    cells = torch.randn(2, 20, 6, 6)
    assert rule.perceive(cells).shape == (2, 80, 6, 6) and rule(cells).shape == (2, 19, 6, 6)
    assert rule.perception.weight.requires_grad
    with pytest.raises(ValueError, match="perception"):
        create_rule("convca", perception="sobel")
