"""The plugin manager: entry points of group ``vddbench`` plus vddbench's own (``default_plugins``).

Everything is loaded lazily, on the first call to :func:`get_registry`. Set
``VDDBENCH_LOAD_PLUGINS=name1,name2`` (entry-point or distribution names) to load only those
third-party plugins; an empty value loads none. Built-ins always load.

A plugin that fails to import, or whose ``register_*`` hook raises, is skipped with one warning line
naming its distribution; the other plugins and every command keep working. Registering something
invalid (a duplicate name, a class that is not a Distiller) stays an error: that is a contract bug.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys
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
    cached_inputs: dict[str, Entry] = field(default_factory=dict)
    executors: dict[str, Entry] = field(default_factory=dict)
    protocols: dict[str, Entry] = field(default_factory=dict)
    broken: list[str] = field(default_factory=list)  # one line per plugin that was skipped, and why
    excluded: list[str] = field(default_factory=list)  # entry points VDDBENCH_LOAD_PLUGINS left out

    def why_missing(self) -> str:
        """Why an installed distiller may be absent ('' if nothing was left out)."""
        notes = []
        if self.excluded:
            notes.append(f"VDDBENCH_LOAD_PLUGINS={os.environ.get('VDDBENCH_LOAD_PLUGINS', '')!r} leaves out "
                         f"{', '.join(self.excluded)}; add the plugin there or unset it")
        if self.broken:
            notes.append("skipped broken plugin(s): " + " | ".join(self.broken))
        return "; ".join(notes)


WARN = True  # print one line per broken plugin (worker processes of a run turn this off)


def _skip(problems: list[str], name: str, provider: "Provider", what: str, exc: BaseException) -> None:
    line = (f"plugin '{name}' from {provider.name} {provider.version} {what} ({type(exc).__name__}: {exc}); "
            f"skipped it: fix or uninstall {provider.name}, or leave it out with VDDBENCH_LOAD_PLUGINS")
    problems.append(line)
    if WARN:
        print(f"vddbench: warning: {line}", file=sys.stderr)


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


def create_plugin_manager(problems: list[str] | None = None, excluded: list[str] | None = None
                          ) -> tuple[pluggy.PluginManager, dict[int, Provider]]:
    """A fresh plugin manager with built-ins and the wanted entry points loaded. Plugins that fail to
    import are skipped and described in ``problems``; those VDDBENCH_LOAD_PLUGINS leaves out are
    named in ``excluded``."""
    from .default_plugins import DEFAULT_PLUGINS

    problems = [] if problems is None else problems
    excluded = [] if excluded is None else excluded

    pm = pluggy.PluginManager("vddbench")
    pm.add_hookspecs(hookspecs)
    providers: dict[int, Provider] = {}
    for plugin in DEFAULT_PLUGINS:
        pm.register(plugin, name=plugin.__name__)
        providers[id(plugin)] = _own_provider()
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist
        provider = Provider(dist.name, dist.version) if dist else Provider(ep.value, "unknown")
        if not _wanted(ep):
            excluded.append(f"{ep.name} ({provider.name})")
            continue
        if pm.has_plugin(ep.name):
            continue
        try:
            plugin = ep.load()
        except Exception as exc:  # a broken plugin names itself and is skipped; the others keep working
            _skip(problems, ep.name, provider, f"failed to import {ep.value}", exc)
            continue
        pm.register(plugin, name=ep.name)
        providers[id(plugin)] = provider
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"a vddbench plugin implements an unknown hook: {exc}") from exc
    return pm, providers


def _collect(pm, providers, hook_name: str, validate, problems: list[str] | None = None) -> dict[str, Entry]:
    """Call one hook plugin by plugin, so every registration is attributed to its distribution. A hook
    that raises is skipped (with what it registered before raising) and described in ``problems``."""
    entries: dict[str, Entry] = {}
    for impl in reversed(getattr(pm.hook, hook_name).get_hookimpls()):
        provider = providers.get(id(impl.plugin), Provider(impl.plugin_name, "unknown"))
        mine: dict[str, Entry] = {}

        def register(obj, _provider=provider, _mine=mine):
            name = validate(obj, _provider)
            if name in entries or name in _mine:
                first = (entries.get(name) or _mine[name]).provider
                raise PluginError(
                    f"{hook_name.removeprefix('register_')[:-1]} '{name}' is registered twice: by "
                    f"{first.name} {first.version} and by {_provider.name} {_provider.version}; "
                    f"uninstall one of them"
                )
            _mine[name] = Entry(name, obj, _provider)

        try:
            impl.function(register=register)
        except PluginError:
            raise
        except Exception as exc:
            _skip(problems if problems is not None else [], impl.plugin_name, provider, f"raised in {hook_name}", exc)
            continue
        entries.update(mine)
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
        broken: list[str] = []
        excluded: list[str] = []
        pm, providers = create_plugin_manager(broken, excluded)
        _registry = Registry(
            distillers=_collect(pm, providers, "register_distillers", _validate_distiller, broken),
            students=_collect(pm, providers, "register_students", _validate_named("student", "StudentSpec"), broken),
            datasets=_collect(pm, providers, "register_datasets", _validate_named("dataset", "DatasetSource"), broken),
            protocols=_collect(pm, providers, "register_protocols", _validate_named("protocol", "Protocol"), broken),
            cached_inputs=_collect(pm, providers, "register_cached_inputs",
                                   _validate_named("cached input", "CachedInput"), broken),
            executors=_collect(pm, providers, "register_executors",
                               _validate_named("executor", "ExecutorSpec"), broken),
            broken=broken, excluded=excluded,
        )
    return _registry


def reset_registry() -> None:
    """Forget what was loaded (tests install plugins at run time)."""
    global _registry
    from .protocol import forget_protocols

    _registry = None
    forget_protocols()
    importlib.invalidate_caches()
