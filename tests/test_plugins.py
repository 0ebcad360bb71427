import inspect
import types

import pluggy
import pytest

import vddbench
from vddbench import hookspecs, plugins
from vddbench.plugins import Provider, _collect, _validate_distiller, get_registry


class _Tiny(vddbench.Distiller):
    name = "tiny"

    def distill(self, task):
        raise NotImplementedError


def _manager(*modules):
    pm = pluggy.PluginManager("vddbench")
    pm.add_hookspecs(hookspecs)
    providers = {}
    for i, (module, dist) in enumerate(modules):
        pm.register(module, name=f"p{i}")
        providers[id(module)] = Provider(dist, "1.0")
    return pm, providers


def _plugin_registering(cls):
    module = types.ModuleType(f"plugin_{id(cls)}")

    @vddbench.hookimpl
    def register_distillers(register):
        register(cls)

    module.register_distillers = register_distillers
    return module


def test_default_and_first_party_plugins_are_registered_with_their_distribution():
    reg = get_registry()
    assert reg.distillers["full"].provider.name == "vddbench"
    assert reg.distillers["random"].provider.name == "vddbench-coresets"
    assert {"convnet3d", "cnn-gru", "cnn-mean", "slowonly-r18", "minic3d"} <= set(reg.students)
    assert "moving-shapes" in reg.datasets


def test_duplicate_name_names_both_distributions():
    pm, providers = _manager((_plugin_registering(_Tiny), "pkg-a"), (_plugin_registering(_Tiny), "pkg-b"))
    with pytest.raises(vddbench.PluginError, match=r"'tiny' is registered twice: by pkg-\w 1.0 and by pkg-\w 1.0"):
        _collect(pm, providers, "register_distillers", _validate_distiller)


def test_misspelt_hook_is_an_error():
    pm = pluggy.PluginManager("vddbench")
    pm.add_hookspecs(hookspecs)
    module = types.ModuleType("typo")

    @vddbench.hookimpl
    def register_distiller(register):  # missing "s"
        pass

    module.register_distiller = register_distiller
    pm.register(module)
    with pytest.raises(pluggy.PluginValidationError):
        pm.check_pending()


def test_registering_something_that_is_not_a_distiller_is_rejected():
    pm, providers = _manager((_plugin_registering(object), "pkg-bad"))
    with pytest.raises(vddbench.PluginError, match="pkg-bad registered .* subclass of vddbench.Distiller"):
        _collect(pm, providers, "register_distillers", _validate_distiller)


def test_load_plugins_env_restricts_third_party_plugins(monkeypatch):
    monkeypatch.setenv("VDDBENCH_LOAD_PLUGINS", "")
    plugins.reset_registry()
    try:
        reg = get_registry()
        assert "random" not in reg.distillers and "full" in reg.distillers  # built-ins always load
        monkeypatch.setenv("VDDBENCH_LOAD_PLUGINS", "vddbench-coresets")
        plugins.reset_registry()
        assert "random" in get_registry().distillers
    finally:
        monkeypatch.delenv("VDDBENCH_LOAD_PLUGINS")
        plugins.reset_registry()


def test_every_hook_is_documented_and_exercised():
    from pathlib import Path

    hooks = [f for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("register_")]
    assert {"register_distillers", "register_students", "register_datasets", "register_cached_inputs"} <= {
        h.__name__ for h in hooks}
    contributing = (Path(__file__).parents[1] / "CONTRIBUTING.md").read_text()
    registry = plugins.get_registry()
    for hook in hooks:
        assert hook.__doc__ and "register(" in hook.__doc__, hook.__name__
        assert f"`{hook.__name__}`" in contributing, f"CONTRIBUTING.md should document {hook.__name__}"
        # vddbench registers through every hook itself, so each is exercised on every start
        assert getattr(registry, hook.__name__.removeprefix("register_")), hook.__name__
