"""The checks. Each is ``check_<property>(distiller, *, protocol="smoke", ...)`` with a one-line
docstring; it passes or raises ``AssertionError("distiller 'x' should ...; got ...")``.

``distiller`` is a Distiller subclass (built with its ``protocol_defaults``), an instance (rebuilt
from its hyper-parameters, as the harness does) or the name of an installed distiller.
"""

from __future__ import annotations

import json
from typing import Any

import torch

from ..distiller import DistilledVideos, Distiller
from ..errors import PluginError, VddbenchError
from ..plugins import get_registry
from .bench import Options, distil


def resolve(distiller, protocol: str = "smoke") -> tuple[type[Distiller], dict[str, Any]]:
    """The class and hyper-parameters the checks run, from a class, an instance or a name."""
    from ..runner import protocol_configuration, resolve_distiller

    if isinstance(distiller, str):
        distiller = resolve_distiller(distiller)  # unknown: a ProtocolError with a did-you-mean
    if isinstance(distiller, type) and issubclass(distiller, Distiller):
        return distiller, protocol_configuration(distiller, protocol)
    if isinstance(distiller, Distiller):
        return type(distiller), distiller.get_params()
    raise TypeError(f"expected a vddbench.Distiller subclass, instance or name; got {distiller!r}")


def _setup(distiller, protocol, device="cpu", time_budget_s=None):
    opts = Options(protocol, device, time_budget_s)
    cls, params = resolve(distiller, protocol)
    return cls, params, opts


def _ipcs(cls, opts: Options) -> list[int | None]:
    return list(opts.proto.ipcs) if cls.tags.uses_ipc else [None]


def _fail(cls, should: str, got: Any) -> None:
    raise AssertionError(f"distiller '{cls.name}' should {should}; got {got}")


# -- declaration ----------------------------------------------------------------------------------
def check_registration(distiller, *, protocol="smoke", **_):
    """Reachable through a vddbench entry point; valid name, tags, hyper-parameters, protocol_defaults."""
    cls = distiller if isinstance(distiller, type) else type(distiller)
    if isinstance(distiller, str):
        cls = resolve(distiller, protocol)[0]
    entries = get_registry().distillers
    entry = entries.get(cls.name)
    if entry is None:
        _fail(cls, "be registered through a 'vddbench' entry point (register_distillers hook)",
              f"no distiller of that name among the installed ones ({', '.join(sorted(entries))})")
    if entry.obj is not cls:
        _fail(cls, f"be the class registered under its name ({cls.__module__}.{cls.__qualname__})",
              f"{entry.obj.__module__}.{entry.obj.__qualname__} from {entry.provider.name}")
    try:
        cls.check_declaration(entry.provider.name)
        params = cls().get_params()
    except (PluginError, TypeError) as exc:
        _fail(cls, "declare a valid name, tags and hyper-parameters", exc)
    rebuilt = cls(**params).get_params()
    if json.dumps(rebuilt, sort_keys=True) != json.dumps(params, sort_keys=True):
        _fail(cls, "give back the hyper-parameters it was built with (store each as self.<name>)",
              f"{rebuilt} from {params}")
    for proto_name, overrides in dict(cls.protocol_defaults).items():
        from ..protocol import all_protocols

        if proto_name not in all_protocols():
            _fail(cls, f"use known protocol names in protocol_defaults ({', '.join(all_protocols())})",
                  repr(proto_name))
        unknown = sorted(set(overrides) - set(cls.param_names()))
        if unknown:
            _fail(cls, f"only override its hyper-parameters in protocol_defaults['{proto_name}']", unknown)
        try:  # else every `vddbench run` on that protocol stops at once
            cls(**cls.defaults_for(proto_name))
        except (VddbenchError, TypeError, ValueError) as exc:
            _fail(cls, f"accept its own protocol_defaults['{proto_name}'] when built", exc)
    overrides_augment = cls.augment_batch is not Distiller.augment_batch
    if overrides_augment != cls.tags.eval_augmentation:
        _fail(cls, "declare tags.eval_augmentation=True exactly when it overrides augment_batch",
              f"eval_augmentation={cls.tags.eval_augmentation}, augment_batch overridden: {overrides_augment}")


# -- what it produces -----------------------------------------------------------------------------
def check_output_contract(distiller, *, protocol="smoke", device="cpu", **_):
    """At every IPC of the protocol: (N, 3, T, H, W) finite float32 videos and valid labels."""
    cls, params, opts = _setup(distiller, protocol, device)
    spec = opts.proto.datasets[0]
    for ipc in _ipcs(cls, opts):
        run = distil(cls, params, opts, ipc).require()
        data = run.data
        if not isinstance(data, DistilledVideos):
            _fail(cls, "return vddbench.DistilledVideos from expand", type(data).__name__)
        try:
            data.validate(cls.name, spec.num_classes, spec.clip)
        except VddbenchError as exc:
            raise AssertionError(f"{exc}{run.where}") from None
        if data.soft and not cls.tags.soft_labels:
            _fail(cls, "return int64 hard labels (or declare tags.soft_labels=True)", f"soft labels{run.where}")


def check_clips_per_class(distiller, *, protocol="smoke", device="cpu", **_):
    """At every IPC, expand gives IPC clips per class (IPC x classes if soft; >= 1 each if not exact_ipc)."""
    cls, params, opts = _setup(distiller, protocol, device)
    classes = opts.proto.datasets[0].num_classes
    for ipc in _ipcs(cls, opts):
        run = distil(cls, params, opts, ipc).require()
        labels = run.data.labels
        if labels.dim() == 2:  # a soft label need not peak at the class its clip stands for
            if len(labels) != ipc * classes:
                _fail(cls, f"return exactly {ipc} x {classes} clips", f"{len(labels)} clips{run.where}")
            continue
        counts = [int((labels == c).sum()) for c in range(classes)]  # robust to out-of-range labels
        if not cls.tags.exact_ipc:  # the budget may expand into more clips, but every class needs some
            if min(counts) < 1:
                _fail(cls, "return at least one clip per class", f"per class {counts}{run.where}")
            continue
        if len(labels) != ipc * classes or set(counts) != {ipc}:
            _fail(cls, f"return exactly {ipc} clip(s) per class", f"{len(labels)} clips, per class {counts}{run.where}")


def check_determinism(distiller, *, protocol="smoke", device="cpu", **_):
    """The same seed twice gives byte-identical artifacts (same sha256)."""
    cls, params, opts = _setup(distiller, protocol, device)
    ipc = _ipcs(cls, opts)[0]
    first = distil(cls, params, opts, ipc).require()
    second = distil(cls, params, opts, ipc, cached=False).require()
    if first.info["artifact_sha256"] != second.info["artifact_sha256"]:
        _fail(cls, f"give the same artifact for the same seed{first.where}",
              f"sha256 {first.info['artifact_sha256'][:12]} then {second.info['artifact_sha256'][:12]} "
              f"(draw randomness from task.generator() or torch's seeded global generator)")


# -- what it may touch ----------------------------------------------------------------------------
def check_training_split_unchanged(distiller, *, protocol="smoke", device="cpu", **_):
    """Distilling leaves every clip and label of the training split as it was."""
    cls, params, opts = _setup(distiller, protocol, device)
    for ipc in _ipcs(cls, opts):
        run = distil(cls, params, opts, ipc)
        if run.split_changed:
            _fail(cls, "leave the training split unchanged",
                  f"a different split fingerprint after distilling{run.where}")


def check_test_split_unread(distiller, *, protocol="smoke", device="cpu", **_):
    """Distilling never loads the test split (here a test split that raises when touched)."""
    cls, params, opts = _setup(distiller, protocol, device)
    run = distil(cls, params, opts, _ipcs(cls, opts)[0], forbid_test=True)
    if "test" in run.distill_loads:
        _fail(cls, "never read the test split",
              f"{run.distill_loads.count('test')} load(s) of it while distilling{run.where}")


def check_cached_inputs_declared(distiller, *, protocol="smoke", device="cpu", **_):
    """distill asks only for the cached inputs its tags declare (needs_teacher, cached_inputs)."""
    cls, params, opts = _setup(distiller, protocol, device)
    declared = cls(**params).tags.inputs
    for ipc in _ipcs(cls, opts):
        run = distil(cls, params, opts, ipc)
        undeclared = sorted(set(run.input_calls) - set(declared))
        if undeclared:
            how = " and ".join("needs_teacher=True" if k == "teacher" else f"cached_inputs=({k!r},)"
                               for k in undeclared)
            _fail(cls, f"declare tags {how} to use {', '.join(undeclared)}",
                  f"{len(run.input_calls)} call(s){run.where}")


# -- what it stores -------------------------------------------------------------------------------
def _same(a: DistilledVideos, b: DistilledVideos) -> bool:
    return all(x.shape == y.shape and x.dtype == y.dtype and torch.equal(x.nan_to_num(), y.nan_to_num())
               for x, y in ((a.videos, b.videos), (a.labels, b.labels)))


def check_artifact_round_trip(distiller, *, protocol="smoke", device="cpu", **_):
    """save -> load -> expand equals expanding the artifact distill returned."""
    cls, params, opts = _setup(distiller, protocol, device)
    run = distil(cls, params, opts, _ipcs(cls, opts)[0]).require()
    if run.in_memory_error:
        _fail(cls, "expand the artifact distill returned", run.in_memory_error)
    if not _same(run.data, run.in_memory):
        _fail(cls, "expand its saved and reloaded artifact to what the in-memory artifact gives",
              "different videos or labels (keep everything expand needs in artifact.tensors as plain "
              "tensors, and metadata as strings)")


def check_artifact_self_contained(distiller, *, protocol="smoke", device="cpu", **_):
    """Expanding the reloaded file needs nothing else: no training data, no state kept on the distiller."""
    from ..artifacts import load_artifact
    from .watch import watch_dataset_loads

    cls, params, opts = _setup(distiller, protocol, device)
    run = distil(cls, params, opts, _ipcs(cls, opts)[0]).require()
    should = "store a self-contained artifact (no indices into the training set)"
    if run.late_reads:
        _fail(cls, should, f"expand read the training split {run.late_reads} time(s) after distill returned")
    if run.expand_loads:
        _fail(cls, should, f"expand loaded the dataset split(s) {sorted(set(run.expand_loads))}")
    loads: list[str] = []
    reason = f"distiller '{cls.name}' should {should}; got expand loading a dataset split"
    try:  # a fresh instance, as in another process: nothing remembered from distill
        with watch_dataset_loads(loads, lambda split: reason):
            fresh = cls(**params).expand(load_artifact(run.path))
    except Exception as exc:
        _fail(cls, should, f"a fresh instance could not expand the file: {type(exc).__name__}: {exc}")
    if not _same(fresh, run.data):
        _fail(cls, should, "a fresh instance expands the file to different videos or labels")


def check_storage_honest(distiller, *, protocol="smoke", device="cpu", **_):
    """The recorded storage is the saved file's size, and expand reads no file besides it."""
    cls, params, opts = _setup(distiller, protocol, device)
    run = distil(cls, params, opts, _ipcs(cls, opts)[0]).require()
    on_disk = run.path.stat().st_size
    tensor_bytes = sum(t.numel() * t.element_size() for t in run.artifact.tensors.values())
    if run.info["storage_bytes"] != on_disk or on_disk < tensor_bytes:
        _fail(cls, "be charged for every byte it stores", f"recorded {run.info['storage_bytes']} bytes, file "
              f"{on_disk} bytes, tensors {tensor_bytes} bytes")
    if run.expand_files:
        _fail(cls, "keep everything expand needs in its artifact, so its storage is the file's bytes",
              f"expand read {', '.join(sorted(set(run.expand_files)))}")


def check_storage_budget(distiller, *, protocol="smoke", device="cpu", **_):
    """The saved artifact fits tags.storage_budget_bytes at every IPC of the protocol."""
    cls, params, opts = _setup(distiller, protocol, device)
    budget = cls.tags.storage_budget_bytes
    for ipc in _ipcs(cls, opts):
        run = distil(cls, params, opts, ipc).require()
        if run.info["storage_bytes"] > budget:
            _fail(cls, f"keep its artifact within its declared storage budget of {budget:,} bytes",
                  f"{run.info['storage_bytes']:,} bytes{run.where}")


# -- how it fails and how long it takes -----------------------------------------------------------
def check_time_budget(distiller, *, protocol="smoke", device="cpu", time_budget_s=None, **_):
    """Each cell of the protocol distils within the stated time budget (teacher training excluded)."""
    cls, params, opts = _setup(distiller, protocol, device, time_budget_s)
    for ipc in _ipcs(cls, opts):
        run = distil(cls, params, opts, ipc).require()
        if run.seconds > opts.budget:
            _fail(cls, f"distil one cell of protocol '{opts.protocol}' within the time budget of {opts.budget:g} s "
                       "(set protocol_defaults for a faster configuration)", f"{run.seconds:.2f} s{run.where}")


def check_augment_batch(distiller, *, protocol="smoke", device="cpu", **_):
    """augment_batch keeps the batch's shape, stays finite, gives valid labels, and is seeded."""
    cls, params, opts = _setup(distiller, protocol, device)
    spec = opts.proto.datasets[0]
    data = distil(cls, params, opts, _ipcs(cls, opts)[0]).require().data
    outputs = []
    for _ in range(2):
        videos, labels = cls(**params).augment_batch(data.videos.clone(), data.labels.clone(),
                                                     torch.Generator().manual_seed(0), spec.num_classes)
        outputs.append(DistilledVideos(videos, labels))
        try:
            outputs[-1].validate(cls.name, spec.num_classes, spec.clip)
        except VddbenchError as exc:
            raise AssertionError(f"{exc} (from augment_batch)") from None
        if len(videos) != len(data.videos):
            _fail(cls, "keep the batch size in augment_batch", f"{len(videos)} from {len(data.videos)}")
    if not _same(*outputs):
        _fail(cls, "augment the same batch identically for the same generator", "different batches")
