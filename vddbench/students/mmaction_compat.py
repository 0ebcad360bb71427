"""Workarounds for packaging bugs of mmaction2 1.2.0, applied before mmaction is imported.

1. ``mmaction.utils.dependency`` imports the ``importlib_metadata`` backport but the wheel does not
   declare it. vddbench depends on the backport; if it is somehow absent, the standard library's
   ``importlib.metadata`` offers the two names mmaction uses.
2. The wheel lacks ``mmaction/models/localizers/drn`` (open-mmlab/mmaction2#2714), so
   ``import mmaction.models`` fails on ``from .drn.drn import DRN``. We put a placeholder module
   there whose ``DRN`` raises when built; vddbench never uses the DRN localizer.
3. With ``transformers >= 4.28`` installed, ``mmaction.models`` imports its multimodal VindLU
   models, which import names transformers 5 removed (``find_pruneable_heads_and_indices``, ...),
   so the import fails (seen on a GPU image with transformers 5.17). vddbench uses none of them:
   we switch mmaction2's multimodal flag off, and it registers placeholders instead.

Call :func:`import_mmaction_models` instead of ``import mmaction.models``.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types
import warnings
from pathlib import Path

_DRN_MODULES = ("mmaction.models.localizers.drn", "mmaction.models.localizers.drn.drn")


class _MissingDRN:
    """Stands in for mmaction2's DRN localizer, which the 1.2.0 wheel does not ship."""

    def __init__(self, *args, **kwargs):
        raise ImportError(
            "mmaction2 1.2.0's wheel does not ship the DRN localizer (open-mmlab/mmaction2#2714)"
        )


def _ensure_importlib_metadata() -> None:
    if importlib.util.find_spec("importlib_metadata") is None:
        import importlib.metadata as stdlib_metadata

        sys.modules["importlib_metadata"] = stdlib_metadata


def _ensure_drn_placeholder() -> None:
    # find_spec("mmaction.models.localizers") would import the broken package; look at the files.
    spec = importlib.util.find_spec("mmaction")
    if spec is None:
        raise ImportError("mmaction2 is not installed: run 'make install' (or pip install mmaction2==1.2.0)")
    drn_dir = Path(spec.submodule_search_locations[0]) / "models" / "localizers" / "drn"
    if drn_dir.is_dir():
        return  # a fixed mmaction2 release: nothing to patch
    for name in _DRN_MODULES:
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__path__ = []  # a package, so that ``.drn.drn`` resolves
            module.DRN = _MissingDRN
            sys.modules[name] = module


def _disable_multimodal() -> None:
    import mmaction.utils.dependency as dependency  # does not import mmaction.models

    dependency.WITH_MULTIMODAL = False


def import_mmaction_models() -> types.ModuleType:
    """Import ``mmaction.models`` (registering every model) despite the 1.2.0 packaging bugs."""
    _ensure_importlib_metadata()
    _ensure_drn_placeholder()
    _disable_multimodal()
    with warnings.catch_warnings():
        # mmcv-lite lacks the compiled ops; only detection/transformer models need them.
        warnings.filterwarnings("ignore", message=".*mmcv-lite.*")
        return importlib.import_module("mmaction.models")
