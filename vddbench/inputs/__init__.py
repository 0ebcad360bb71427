"""Cached inputs: what a distiller may use that the harness builds once and shares between cells.

A kind of cached input (the teacher, expert trajectories, or one a plugin registers with the
``register_cached_inputs`` hook) is a :class:`CachedInput`: a name and a builder that turns a
:class:`BuildContext` (protocol, dataset, seed, the training split) and JSON options into named
tensors. The harness builds each ``(protocol, dataset, seed, kind, options)`` once: runs keep it on
disk beside the records, under a file lock (:class:`DiskInputs`), the conformance kit in memory
(:class:`MemoryInputs`). It is never part of a distiller's artifact, so never of its storage; every
record names what its cell used, with the sha256 of the tensors (``cached_inputs``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import torch
from safetensors.torch import load, save

from ..errors import DistillerError

if TYPE_CHECKING:
    from ..data import VideoSplit
    from ..protocol import DatasetSpec, Protocol

Tensors = dict[str, torch.Tensor]


@dataclass(frozen=True)
class CachedInput:
    """A kind of cached input. ``build(context, options)`` returns named CPU tensors; it must be
    deterministic in (protocol, dataset, seed, options), since every cell that asks shares it."""

    name: str
    description: str
    build: Callable[["BuildContext", dict[str, Any]], Tensors]


@dataclass
class BuildContext:
    """What a builder may use: the cell's protocol, dataset, seed and device, and its training split."""

    protocol: "Protocol"
    spec: "DatasetSpec"
    seed: int
    device: torch.device
    load_train: Callable[[], "VideoSplit"] = field(repr=False)

    @property
    def train(self) -> "VideoSplit":
        return self.load_train()


def options_key(options: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(options, sort_keys=True).encode()).hexdigest()[:16]


class Inputs:
    """The cached inputs of one cell's context: ``get(kind, options)`` builds or reuses them and
    remembers what was used (``used``: what the records name)."""

    def __init__(self, context: BuildContext):
        self.context = context
        self.used: dict[tuple[str, str], dict[str, Any]] = {}

    def kind(self, name: str) -> CachedInput:
        from ..plugins import get_registry

        kinds = get_registry().cached_inputs
        if name not in kinds:
            raise DistillerError(f"unknown cached input '{name}' (registered: {', '.join(sorted(kinds))})")
        return kinds[name].obj

    def get(self, name: str, options: dict[str, Any]) -> Tensors:
        kind = self.kind(name)
        data = self._fetch(kind, options)
        self.used[(name, options_key(options))] = {"kind": name, "options": options,
                                                   "sha256": hashlib.sha256(data).hexdigest()}
        return dict(load(data))

    def describe_used(self) -> list[dict[str, Any]]:
        return [self.used[k] for k in sorted(self.used)]

    def _build(self, kind: CachedInput, options: dict[str, Any]) -> bytes:
        tensors = kind.build(self.context, options)
        return save({k: v.detach().contiguous().cpu() for k, v in tensors.items()})

    def _fetch(self, kind: CachedInput, options: dict[str, Any]) -> bytes:
        raise NotImplementedError


class DiskInputs(Inputs):
    """Kept under ``<results>/cached/``; the first process to ask builds it under an exclusive file
    lock, the others wait and read it, so a grid builds each input once however many workers."""

    def __init__(self, context: BuildContext, root: Path):
        super().__init__(context)
        self.root = root

    def path(self, kind: str, options: dict[str, Any]) -> Path:
        c = self.context
        return (self.root / c.protocol.protocol_id / c.spec.name / kind
                / f"seed{c.seed}-{options_key(options)}.safetensors")

    def _fetch(self, kind: CachedInput, options: dict[str, Any]) -> bytes:
        from ..results import write_bytes_atomic, write_json_atomic

        path = self.path(kind.name, options)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if path.exists():
                return path.read_bytes()
            data = self._build(kind, options)
            write_bytes_atomic(path, data)
            write_json_atomic(path.with_suffix(".json"), {"kind": kind.name, "options": options,
                                                          "seed": self.context.seed})
            with open(path.parent / "builds.log", "a") as log:  # an audit trail: one line per build
                log.write(f"{path.name} pid={os.getpid()}\n")
            return data


_MEMORY: dict[tuple, bytes] = {}


class MemoryInputs(Inputs):
    """Kept in this process's memory (the conformance kit): built once per process."""

    def _fetch(self, kind: CachedInput, options: dict[str, Any]) -> bytes:
        c = self.context
        key = (c.protocol.protocol_id, c.spec.name, c.seed, kind.name, options_key(options))
        if key not in _MEMORY:
            _MEMORY[key] = self._build(kind, options)
        return _MEMORY[key]
