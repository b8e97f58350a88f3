"""Initialisation options of every rule: ``init`` (he / pytorch), ``zero_last_layer``,
ViTCA's ``pos_embedding_std`` (paper §4 vs the authors' release; nca.layers.init)."""

import dataclasses
import math

import pytest
import torch
from torch import nn

from nca import CellularAutomaton, create_rule, list_rules, load_rule, make_generator
from nca.config import ConfigError, config_to_dict
from nca.layers.init import initialise_, zero_layer_
from nca.layers.unet import LEAKY_SLOPE
from nca.rules import get_rule_class
from nca.rules.base import parameter_count
from nca.rules.convca import ConvCAConfig
from nca.rules.unet import UNetConfig
from nca.rules.unetca import UNetCAConfig
from nca.rules.vit import ViTConfig
from nca.rules.vitca import ViTCAConfig

FAMILIES = list_rules()
CA_FAMILIES = [n for n in FAMILIES if get_rule_class(n).kind == "ca"]
#: Small but paper-shaped configs, so the checks stay fast.
SMALL = {
    "vitca": {"embed_dim": 32, "heads": 4, "hidden_channels": 8, "image_size": (8, 8)},
    "vit": {"embed_dim": 32, "heads": 4},
    "unet": {},
    "unetca": {"hidden_channels": 8},
    "convca": {},
}
#: He gain of each rule's activations: LeakyReLU(0.1) for the U-Nets, else ReLU.
HE_GAIN = {
    "unet": math.sqrt(2 / (1 + LEAKY_SLOPE**2)),
    "unetca": math.sqrt(2 / (1 + LEAKY_SLOPE**2)),
}
#: The zero-initialised last layer of each CA rule.
LAST_LAYER = {
    "vitca": lambda rule: rule.head.linear,
    "unetca": lambda rule: rule.net.out_conv,
    "convca": lambda rule: rule.update_mlp[-1],
}


def _small(name, **overrides):
    torch.manual_seed(0)
    return create_rule(name, **{**SMALL.get(name, {}), **overrides})


def _weighted_layers(rule, skip=()):
    """(name, layer, fan_in) of every Linear / Conv2d with enough weights for a std test."""
    out = []
    for name, layer in rule.named_modules():
        if isinstance(layer, (nn.Linear, nn.Conv2d)) and layer not in skip:
            fan_in = layer.weight[0].numel()
            if layer.weight.numel() >= 1000:
                out.append((name, layer, fan_in))
    assert out, "no layer large enough to test"
    return out


def _last(name, rule):
    return (LAST_LAYER[name](rule),) if name in LAST_LAYER else ()


def test_every_family_is_covered():
    assert set(FAMILIES) <= set(SMALL), f"add {set(FAMILIES) - set(SMALL)} to SMALL"
    assert set(CA_FAMILIES) <= set(LAST_LAYER)


@pytest.mark.parametrize("name", FAMILIES)
@pytest.mark.parametrize("init", ["he", "pytorch"])
def test_every_rule_accepts_both_inits_without_changing_its_parameters(name, init):
    default = create_rule(name)
    rule = create_rule(name, init=init)
    assert rule.config.init == init
    assert parameter_count(rule) == parameter_count(default)  # the paper's counts stay
    assert rule.state_dict().keys() == default.state_dict().keys()  # checkpoints still fit


def test_defaults_are_the_papers_he_and_convcas_pytorch():
    for name in ("vitca", "unetca", "unet", "vit"):
        assert get_rule_class(name).config_class().init == "he", name
    assert ConvCAConfig().init == "pytorch"  # not a paper rule: its former init
    for config in (ViTCAConfig(), UNetCAConfig(), ConvCAConfig()):
        assert config.zero_last_layer is True
    assert ViTCAConfig().pos_embedding_std == 0.02


@pytest.mark.parametrize("name", FAMILIES)
def test_pytorch_init_matches_torchs_default_distribution(name):
    """Weights (and biases) uniform in ±1/sqrt(fan_in): bounded, std = bound/sqrt(3)."""
    rule = _small(name, init="pytorch")
    for layer_name, layer, fan_in in _weighted_layers(rule, skip=_last(name, rule)):
        bound = 1 / math.sqrt(fan_in)
        w = layer.weight.detach()
        assert w.abs().max() <= bound + 1e-7, layer_name
        assert abs(w.std().item() / (bound / math.sqrt(3)) - 1) < 0.15, layer_name
        if layer.bias is not None:
            assert layer.bias.abs().max() <= bound + 1e-7, layer_name
            assert layer.bias.abs().sum() > 0, layer_name  # default biases are not zero
    for layer in rule.modules():
        if isinstance(layer, nn.LayerNorm):
            assert torch.equal(layer.weight, torch.ones_like(layer.weight))


@pytest.mark.parametrize("name", FAMILIES)
def test_he_init_is_kaiming_normal_with_zero_biases(name):
    rule = _small(name, init="he")
    gain = HE_GAIN.get(name, math.sqrt(2))
    for layer_name, layer, fan_in in _weighted_layers(rule, skip=_last(name, rule)):
        w = layer.weight.detach()
        assert abs(w.std().item() / (gain / math.sqrt(fan_in)) - 1) < 0.15, layer_name
        assert w.abs().max() > 2.5 * gain / math.sqrt(fan_in), layer_name  # normal tails
        if layer.bias is not None:
            assert torch.all(layer.bias == 0), layer_name


def test_pytorch_init_replaces_timms_own_initialisation():
    """timm initialises ViT Linears with trunc_normal(std 0.02); ``pytorch`` resets them."""
    rule = _small("vit", init="pytorch")
    fc1 = rule.vit.blocks[0].mlp.fc1
    assert fc1.weight.std() > 0.05  # 1/sqrt(3·32) ≈ 0.10, not timm's 0.02


@pytest.mark.parametrize("name", CA_FAMILIES)
@pytest.mark.parametrize("init", ["he", "pytorch"])
def test_zero_last_layer(name, init):
    rule = _small(name, init=init)
    last = LAST_LAYER[name](rule)
    assert torch.all(last.weight == 0) and torch.all(last.bias == 0)
    rule = _small(name, init=init, zero_last_layer=False)
    last = LAST_LAYER[name](rule)
    assert last.weight.abs().sum() > 0
    if init == "pytorch":
        assert last.bias.abs().sum() > 0
    # a non-zero last layer moves the grid from the first step
    ca = CellularAutomaton(rule)
    cells = ca.seed(torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0)))
    assert not torch.equal(ca(cells, 2, generator=make_generator(0)).cells, cells)


def test_pos_embedding_std():
    learned = {"positional": "learned", "image_size": (32, 32)}
    release = _small("vitca", **learned, pos_embedding_std=1.0).pos_embedding.detach()
    assert release.numel() == 32 * 32 * 32
    assert abs(release.std().item() - 1.0) < 0.02
    assert release.abs().max() > 3.5  # a plain normal, not truncated at 2 std
    default = _small("vitca", **learned).pos_embedding.detach()
    assert abs(default.std().item() - 0.02) < 0.001
    # the 0.02 default draws exactly what the former trunc_normal_(std=0.02) drew
    rule = _small("vitca", **learned)
    torch.manual_seed(1)
    rule._initialise(rule.config)
    torch.manual_seed(1)
    initialise_(rule, "he")
    expected = nn.init.trunc_normal_(torch.empty_like(rule.pos_embedding), std=0.02)
    assert torch.equal(rule.pos_embedding.detach(), expected)


@pytest.mark.parametrize(
    ("config_class", "field", "value", "message"),
    [
        (ViTCAConfig, "init", "kaiming", r"init must be one of \('he', 'pytorch'\), got 'kaiming'"),
        (UNetCAConfig, "init", "xavier", r"init must be one of \('he', 'pytorch'\), got 'xavier'"),
        (UNetConfig, "init", "He", r"init must be one of \('he', 'pytorch'\), got 'He'"),
        (ViTConfig, "init", "", r"init must be one of \('he', 'pytorch'\), got ''"),
        (ConvCAConfig, "init", None, r"init must be one of \('he', 'pytorch'\), got None"),
        (ViTCAConfig, "zero_last_layer", "yes", "zero_last_layer must be true or false, got 'yes'"),
        (UNetCAConfig, "zero_last_layer", 1, "zero_last_layer must be true or false, got 1"),
        (ConvCAConfig, "zero_last_layer", None, "zero_last_layer must be true or false, got None"),
        (ViTCAConfig, "pos_embedding_std", 0.0, "pos_embedding_std must be a number > 0, got 0.0"),
        (ViTCAConfig, "pos_embedding_std", -1.0, "must be a number > 0, got -1.0"),
        (ViTCAConfig, "pos_embedding_std", float("nan"), "must be a number > 0, got nan"),
        (ViTCAConfig, "pos_embedding_std", float("inf"), "must be finite, got inf"),
        (ViTCAConfig, "pos_embedding_std", "1", "must be a number > 0, got '1'"),
        (
            ViTConfig,
            "probe_tokens",
            "tokens",
            r"probe_tokens must be one of \('embedding', 'final'\)",
        ),
    ],
)
def test_bad_values_name_the_value_and_the_valid_ones(config_class, field, value, message):
    with pytest.raises(ValueError, match=message):
        config_class(**{field: value})


def test_bad_values_through_the_registry():
    with pytest.raises(ConfigError, match="kaiming"):
        create_rule("unetca", init="kaiming")
    with pytest.raises(ConfigError, match="pos_embedding_std"):
        create_rule("vitca", pos_embedding_std=-0.5)


def test_initialise_rejects_unknown_inits():
    with pytest.raises(ValueError, match=r"init must be one of \('he', 'pytorch'\), got 'x'"):
        initialise_(nn.Linear(2, 2), "x")
    layer = zero_layer_(nn.Conv2d(2, 3, 1))
    assert torch.all(layer.weight == 0) and torch.all(layer.bias == 0)


@pytest.mark.parametrize("name", FAMILIES)
def test_checkpoints_without_the_new_fields_still_load(name, tmp_path):
    """A checkpoint written before these options existed (no init / zero_last_layer /
    pos_embedding_std / probe_tokens in its stored config) rebuilds with the defaults."""
    from nca import save_checkpoint

    rule = _small(name)
    new_fields = {"init", "zero_last_layer", "pos_embedding_std", "probe_tokens"}
    config = {k: v for k, v in config_to_dict(rule.config).items() if k not in new_fields}
    fields = {f.name for f in dataclasses.fields(rule.config)}
    assert fields & new_fields  # the rule has some of them
    path = save_checkpoint(
        tmp_path / "last.pt",
        {"rule": {"name": name, "config": config}, "model": rule.state_dict()},
    )
    loaded = load_rule(path)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in rule.state_dict().items())
    defaults = type(rule.config)()
    for field in fields & new_fields:
        assert getattr(loaded.config, field) == getattr(defaults, field)


@pytest.mark.parametrize("name", ["unet", "unetca"])
def test_he_on_u_nets_keeps_the_leaky_relu_gain(name):
    """Bit-identical to Kaiming-normal with a = 0.1 drawn layer by layer after
    construction (the U-Nets' former ``he_init_``); the gain differs from ReLU's by
    only 0.5 %, too little for a statistical test."""
    from nca.layers.unet import UNet as UNetNetwork

    torch.manual_seed(0)
    rule = create_rule(name)
    torch.manual_seed(0)
    if name == "unet":
        net = UNetNetwork(1, 1, 24, 2)
    else:
        layout = rule.layout
        net = UNetNetwork(layout.cell_channels, layout.updatable_channels, 48, 2, nca_mode=True)
    for layer in net.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.kaiming_normal_(layer.weight, a=LEAKY_SLOPE, nonlinearity="leaky_relu")
            nn.init.zeros_(layer.bias)
    if name == "unetca":
        zero_layer_(net.out_conv)
    expected = net.state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in rule.net.state_dict().items())
