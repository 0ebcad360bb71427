"""vddbench's own plugin: built-in students, the embedded dataset, and the ``full`` reference.

Registered through the same hooks as any third-party plugin.
"""

from __future__ import annotations

from .data.moving_shapes import MovingShapes
from .distiller import Artifact, Distiller, DistillerTags, DistillTask
from .hookspecs import hookimpl
from .students.catalog import BUILTIN_STUDENTS


class FullDataset(Distiller):
    """Reference: the whole training split (its storage is the split's)."""

    name = "full"
    tags = DistillerTags(uses_ipc=False)

    def distill(self, task: DistillTask) -> Artifact:
        everything = slice(0, len(task.train))
        return Artifact({"videos_uint8": task.train.raw(everything), "labels": task.train.labels})

    def expand(self, artifact: Artifact):
        from .data import normalize
        from .distiller import DistilledVideos

        return DistilledVideos(normalize(artifact.tensors["videos_uint8"]), artifact.tensors["labels"])


@hookimpl
def register_distillers(register):
    register(FullDataset)


@hookimpl
def register_students(register):
    for spec in BUILTIN_STUDENTS:
        register(spec)


@hookimpl
def register_datasets(register):
    from .data.sources import REAL_SOURCES

    register(MovingShapes())
    for source in REAL_SOURCES:
        register(source)
