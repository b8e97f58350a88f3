import importlib.metadata as metadata

import pytest

from nca.registry import (
    PluginConflictError,
    PluginLoadError,
    PluginRegistry,
    PluginTypeError,
    UnknownPluginError,
)


class Base:
    name = ""


class Good(Base):
    name = "good"


class Other(Base):
    name = "other"


def check(obj):
    if not (isinstance(obj, type) and issubclass(obj, Base)):
        raise TypeError(f"expected a Base subclass, got {obj!r}")


def make(*points):
    eps = [metadata.EntryPoint(name, value, "test.group") for name, value in points]
    return PluginRegistry("test.group", "widget", check, entry_points=lambda: eps)


def test_discovery_is_lazy():
    # an entry point whose module does not exist: listing must not import it
    registry = make(("good", f"{__name__}:Good"), ("ghost", "no_such_module_xyz:Thing"))
    assert registry.names() == ["ghost", "good"]
    assert registry.names("g*") == ["ghost", "good"]
    assert registry.names("go*") == ["good"]
    assert registry.load("good") is Good
    with pytest.raises(PluginLoadError, match="widget 'ghost' .* failed to load .*no_such_module"):
        registry.load("ghost")


def test_type_check_after_load():
    registry = make(("bad", "builtins:dict"))
    with pytest.raises(
        PluginTypeError, match="widget 'bad' .* is invalid: expected a Base subclass"
    ):
        registry.load("bad")


def test_name_clash_between_entry_points_names_both():
    registry = make(("good", f"{__name__}:Good"), ("good", f"{__name__}:Other"))
    with pytest.raises(PluginConflictError) as err:
        registry.names()
    message = str(err.value)
    assert f"{__name__}:Good" in message and f"{__name__}:Other" in message
    assert "provided twice" in message


def test_programmatic_registration_and_clash():
    registry = make(("good", f"{__name__}:Good"))
    registry.register(Other)
    assert registry.names() == ["good", "other"]
    assert registry.load("other") is Other
    assert "module tests.registry.test_plugins" in registry.entry("other").provider

    class Impostor(Base):
        name = "good"

    with pytest.raises(PluginConflictError, match="'good' is provided twice"):
        registry.register(Impostor)
    with pytest.raises(TypeError, match="expected a Base subclass"):
        registry.register(int, name="int")


def test_unknown_name_lists_known_and_closest():
    registry = make(("good", f"{__name__}:Good"), ("other", f"{__name__}:Other"))
    with pytest.raises(UnknownPluginError) as err:
        registry.load("goood")
    message = str(err.value)
    assert "widget 'goood' is not installed" in message
    assert "Did you mean 'good'?" in message
    assert "Installed widgets: good, other." in message
    assert "'test.group'" in message


def test_unknown_name_with_nothing_installed():
    with pytest.raises(UnknownPluginError, match="No widgets are installed"):
        make().load("anything")


def _fake_dist(root, dist, version, module, entry_name):
    pkg = root / module
    pkg.mkdir()
    (pkg / "__init__.py").write_text("class Thing:\n    name = 'x'\n")
    info = root / f"{dist}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[test.clash]\n{entry_name} = {module}:Thing\n")


def test_clash_between_installed_distributions_names_both(tmp_path, monkeypatch):
    _fake_dist(tmp_path, "alpha-rules", "1.0", "alpha_rules", "shared-name")
    _fake_dist(tmp_path, "beta-rules", "2.0", "beta_rules", "shared-name")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = PluginRegistry("test.clash", "rule", lambda obj: None)
    with pytest.raises(PluginConflictError) as err:
        registry.names()
    assert "alpha-rules 1.0" in str(err.value) and "beta-rules 2.0" in str(err.value)
