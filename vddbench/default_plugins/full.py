"""The ``full`` reference distiller: the whole training split, named rather than copied."""

from __future__ import annotations

from ..distiller import Artifact, Distiller, DistillerTags, DistillTask
from ..errors import DistillerError
from ..hookspecs import hookimpl
from ..split_reference import split_reference


class FullDataset(Distiller):
    """Reference: the whole training split (its storage is the split's; no copy is saved)."""

    name = "full"
    tags = DistillerTags(uses_ipc=False)

    def distill(self, task: DistillTask) -> Artifact:
        return split_reference(task.train)

    def expand(self, artifact: Artifact):
        if "videos_uint8" in artifact.tensors:  # a copy saved by vddbench < 0.2
            return super().expand(artifact)
        raise DistillerError("the 'full' reference stores no videos: its artifact names the training split, "
                             "which the harness streams to the students itself")


@hookimpl
def register_distillers(register):
    register(FullDataset)
