"""The plugin manager: entry points of group ``vddbench`` plus vddbench's own built-ins.

Everything is loaded lazily, on the first call to :func:`get_registry`. Set
``VDDBENCH_LOAD_PLUGINS=name1,name2`` (entry-point or distribution names) to load only those
third-party plugins; an empty value loads none. Built-ins always load.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
from dataclasses import dataclass, field
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError

ENTRY_POINT_GROUP = "vddbench"
NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]*$")


@dataclass(frozen=True)
class Provider:
    """The distribution that registered something."""

    name: str
    version: str


@dataclass(frozen=True)
class Entry:
    name: str
    obj: Any
    provider: Provider


@dataclass
class Registry:
    distillers: dict[str, Entry] = field(default_factory=dict)
    students: dict[str, Entry] = field(default_factory=dict)
    datasets: dict[str, Entry] = field(default_factory=dict)


def _own_provider() -> Provider:
    from . import __version__

    return Provider("vddbench", __version__)


def _wanted(entry_point: importlib.metadata.EntryPoint) -> bool:
    allowed = os.environ.get("VDDBENCH_LOAD_PLUGINS")
    if allowed is None:
        return True
    names = {n.strip() for n in allowed.split(",") if n.strip()}
    dist = entry_point.dist.name if entry_point.dist else None
    return entry_point.name in names or dist in names


def create_plugin_manager() -> tuple[pluggy.PluginManager, dict[int, Provider]]:
    """A fresh plugin manager with built-ins and the wanted entry points loaded."""
    from . import builtins

    pm = pluggy.PluginManager("vddbench")
    pm.add_hookspecs(hookspecs)
    providers: dict[int, Provider] = {}
    pm.register(builtins, name="vddbench.builtins")
    providers[id(builtins)] = _own_provider()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if not _wanted(ep) or pm.has_plugin(ep.name):
            continue
        dist = ep.dist
        provider = Provider(dist.name, dist.version) if dist else Provider(ep.value, "unknown")
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin must name itself, not crash obscurely
            raise PluginError(
                f"plugin '{ep.name}' from {provider.name} {provider.version} failed to import "
                f"({ep.value}): {type(exc).__name__}: {exc}; fix or uninstall it, or exclude it "
                f"with VDDBENCH_LOAD_PLUGINS"
            ) from exc
        pm.register(plugin, name=ep.name)
        providers[id(plugin)] = provider
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"a vddbench plugin implements an unknown hook: {exc}") from exc
    return pm, providers


def _collect(pm, providers, hook_name: str, validate) -> dict[str, Entry]:
    """Call one hook plugin by plugin, so every registration is attributed to its distribution."""
    entries: dict[str, Entry] = {}
    for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):
        provider = providers.get(id(impl.plugin), Provider(impl.plugin_name, "unknown"))

        def register(obj, _provider=provider):
            name = validate(obj, _provider)
            if name in entries:
                first = entries[name].provider
                raise PluginError(
                    f"{hook_name.removeprefix('register_')[:-1]} '{name}' is registered twice: by "
                    f"{first.name} {first.version} and by {_provider.name} {_provider.version}; "
                    f"uninstall one of them"
                )
            entries[name] = Entry(name, obj, _provider)

        impl.function(register=register)
    return entries


def _validate_distiller(cls, provider: Provider) -> str:
    from .distiller import Distiller

    if not (isinstance(cls, type) and issubclass(cls, Distiller)):
        raise PluginError(
            f"{provider.name} registered {cls!r} as a distiller; register a subclass of "
            f"vddbench.Distiller"
        )
    cls.check_declaration(provider.name)
    return cls.name


def _validate_named(kind: str, base_name: str):
    def validate(obj, provider: Provider) -> str:
        import vddbench

        base = getattr(vddbench, base_name)
        if not isinstance(obj, base):
            raise PluginError(f"{provider.name} registered {obj!r} as a {kind}; pass a vddbench.{base_name}")
        if not NAME_PATTERN.match(obj.name):
            raise PluginError(f"{provider.name} registered {kind} name {obj.name!r}: use [a-z0-9-]")
        return obj.name

    return validate


_registry: Registry | None = None


def get_registry() -> Registry:
    """Everything registered by built-ins and installed plugins (loaded once per process)."""
    global _registry
    if _registry is None:
        pm, providers = create_plugin_manager()
        _registry = Registry(
            distillers=_collect(pm, providers, "register_distillers", _validate_distiller),
            students=_collect(pm, providers, "register_students", _validate_named("student", "StudentSpec")),
            datasets=_collect(pm, providers, "register_datasets", _validate_named("dataset", "DatasetSource")),
        )
    return _registry


def reset_registry() -> None:
    """Forget what was loaded (tests install plugins at run time)."""
    global _registry
    _registry = None
    importlib.invalidate_caches()
