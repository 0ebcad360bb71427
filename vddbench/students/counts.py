"""Parameter counts of students, built on PyTorch's meta device: no memory, no initialisation.

Counting this way takes milliseconds even for C3D's 78 M parameters, so ``vddbench list`` can show
every student's size at each protocol clip size it is used at. Counts are also kept on disk, keyed
by the hash of the student's config, so that a later ``vddbench list`` need not import mmaction2.
"""

from __future__ import annotations

import hashlib
import json
import os
from functools import lru_cache

import torch

from ..protocol import ClipSpec


def _count(config: dict) -> int:
    from mmengine.registry import DefaultScope

    from . import modules  # noqa: F401  registers vddbench's own mmaction2 modules
    from .mmaction_compat import import_mmaction_models

    import_mmaction_models()
    from mmaction.registry import MODELS

    with torch.device("meta"), DefaultScope.overwrite_default_scope("mmaction"):
        model = MODELS.build(config)
    return sum(p.numel() for p in model.parameters())


@lru_cache(maxsize=None)
def parameter_count(name: str, num_classes: int, clip: ClipSpec) -> int:
    """Number of parameters of student ``name`` for this dataset shape (cached in memory and on disk)."""
    from ..data.cache import cache_root
    from .spec import student_config

    config = student_config(name, num_classes, clip)
    key = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]
    path = cache_root() / "parameter-counts.json"
    try:
        known = json.loads(path.read_text())
    except (OSError, ValueError):
        known = {}
    if key not in known:
        known[key] = _count(config)
        try:  # a cache only: an unwritable home must not break `vddbench list`
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(known, sort_keys=True))
            os.replace(tmp, path)
        except OSError:
            pass
    return known[key]


def human(count: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= size:
            return f"{count / size:.{2 if count < 10 * size else 1}f}{unit}"
    return str(count)


def protocol_counts(name: str) -> list[tuple[str, int]]:
    """``(dataset, parameters)`` for each distinct clip size of the protocols that use ``name``."""
    from ..protocol import all_protocols

    seen, out = set(), []
    for protocol in all_protocols().values():
        if name not in protocol.students:
            continue
        for spec in protocol.datasets:
            if spec.clip not in seen:  # the head's size differs by classes; the clip decides the rest
                seen.add(spec.clip)
                out.append((spec.name, parameter_count(name, spec.num_classes, spec.clip)))
    return out
