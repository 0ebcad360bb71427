"""vddbench: a benchmark harness for video dataset distillation.

This module is the public API for plugin authors; plugins import from here only.
"""

__version__ = "0.1.0"

from .data import IMAGENET_MEAN, IMAGENET_STD, ArraySplit, DatasetSource, VideoSplit, denormalize, normalize
from .distiller import Artifact, DistilledVideos, Distiller, DistillerTags, DistillTask
from .errors import DataError, DistillerError, PluginError, ProtocolError, ResultsError, VddbenchError
from .hookspecs import hookimpl
from .protocol import ClipSpec, DatasetSpec, EvalRecipe, Protocol, get_protocol
from .students import Student, StudentSpec

__all__ = [
    "IMAGENET_MEAN", "IMAGENET_STD", "ArraySplit", "Artifact", "ClipSpec", "DataError", "DatasetSource",
    "DatasetSpec", "DistillTask", "DistilledVideos", "Distiller", "DistillerError", "DistillerTags",
    "EvalRecipe", "PluginError", "Protocol", "ProtocolError", "ResultsError", "Student", "StudentSpec",
    "VddbenchError", "VideoSplit", "__version__", "denormalize", "get_protocol", "hookimpl", "normalize",
]
