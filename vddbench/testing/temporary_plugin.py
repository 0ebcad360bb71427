"""Install a plugin for the length of a ``with`` block, without pip.

An in-memory distribution with a real ``vddbench`` entry point is put on ``sys.meta_path``, so the
harness finds it exactly as it finds an installed package (same loading, validation and attribution).
Tests use it to register distillers defined in a test module.
"""

from __future__ import annotations

import importlib.metadata
import itertools
import re
import sys
import types
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..hookspecs import hookimpl
from ..plugins import reset_registry

_counter = itertools.count()


class _Distribution(importlib.metadata.Distribution):
    def __init__(self, name: str, version: str, entry_points: str):
        self._files = {"METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
                       "entry_points.txt": entry_points}

    def read_text(self, filename):
        return self._files.get(filename)

    def locate_file(self, path):
        return Path(path)


class _Finder:
    """A meta-path finder that imports nothing and knows one distribution."""

    def __init__(self, dist: _Distribution):
        self.dist = dist

    def find_spec(self, *args, **kwargs):
        return None

    def find_distributions(self, context=importlib.metadata.DistributionFinder.Context()):
        if context.name is None or _norm(context.name) == _norm(self.dist.metadata["Name"]):
            yield self.dist


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@contextmanager
def temporary_plugin(*distillers, module: types.ModuleType | None = None, dist: str = "vddbench-temporary-plugin",
                     version: str = "0.0.0") -> Iterator[types.ModuleType]:
    """Make ``distillers`` (or the hooks of ``module``) an installed plugin of distribution ``dist``.

    The registry is reset on entry and on exit, so the plugin is visible exactly inside the block.
    """
    created = module is None
    if module is None:
        module = types.ModuleType(f"_vddbench_temporary_plugin_{next(_counter)}")

        @hookimpl
        def register_distillers(register):
            for cls in distillers:
                register(cls)

        module.register_distillers = register_distillers
    entry_point = _norm(dist).replace("-", "_")
    finder = _Finder(_Distribution(dist, version, f"[vddbench]\n{entry_point} = {module.__name__}\n"))
    if created:
        sys.modules[module.__name__] = module
    sys.meta_path.append(finder)
    reset_registry()
    try:
        yield module
    finally:
        sys.meta_path.remove(finder)
        if created:
            sys.modules.pop(module.__name__, None)
        reset_registry()
