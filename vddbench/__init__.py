"""vddbench: a benchmark harness for video dataset distillation.

This module is the public API for plugin authors; plugins import from here only. Names are loaded
on first use (PEP 562), so importing ``vddbench`` (e.g. for its pytest plugin) does not import torch.
"""

from importlib import import_module

__version__ = "0.1.0"

_EXPORTS = {
    ".data": ("IMAGENET_MEAN", "IMAGENET_STD", "ArraySplit", "DatasetSource", "VideoSplit", "denormalize",
              "normalize"),
    ".data.pool": ("read_clip_folder",),
    ".data.stream": ("stream",),
    ".distiller": ("Artifact", "DistilledVideos", "Distiller", "DistillerTags", "DistillTask"),
    ".executors.spec": ("ExecutorOption", "ExecutorSpec"),
    ".errors": ("DataError", "DistillerError", "PluginError", "ProtocolError", "ResultsError", "VddbenchError"),
    ".hookspecs": ("hookimpl",),
    ".inputs": ("BuildContext", "CachedInput"),
    ".inputs.experts": ("ExpertTrajectories",),
    ".matching": ("embed_batches", "frozen_student", "mean_embedding_loss"),
    ".selection": ("apply_model", "candidate_pool", "model_name", "user_model"),
    ".protocol": ("ClipSpec", "DatasetSpec", "EvalRecipe", "ExpertRecipe", "Protocol", "get_protocol"),
    ".students": ("Student", "StudentSpec", "build_student"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE) + ["__version__"]


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module 'vddbench' has no attribute {name!r}")
    value = getattr(import_module(_WHERE[name], __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__():
    return __all__
