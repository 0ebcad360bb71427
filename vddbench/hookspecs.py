"""The hooks a vddbench plugin may implement. These docstrings are the reference documentation.

A plugin module implements any of them with ``@vddbench.hookimpl`` and is found through the
``vddbench`` entry-point group. Each hook receives a ``register`` callback; call it once per thing
the plugin provides. The host validates what it receives, rejects a name that another plugin
already registered (naming both distributions), and remembers which distribution registered it.
"""

import pluggy

hookspec = pluggy.HookspecMarker("vddbench")
hookimpl = pluggy.HookimplMarker("vddbench")


@hookspec
def register_distillers(register):
    """Register distillers: call ``register(cls)`` with a subclass of ``vddbench.Distiller``.

    ``cls.name`` is the distiller's unique name (lowercase, ``[a-z0-9][a-z0-9-]*``); its
    ``__init__`` keyword arguments, all with defaults, are its hyper-parameters; ``cls.tags`` is a
    ``vddbench.DistillerTags``.
    """


@hookspec
def register_students(register):
    """Register student architectures: call ``register(spec)`` with a ``vddbench.StudentSpec``.

    A student spec turns ``(num_classes, clip)`` into an mmaction2 model config; the harness builds
    it through mmaction2's model registry, so a plugin may register its own mmaction2 modules first.
    """


@hookspec
def register_datasets(register):
    """Register dataset sources: call ``register(source)`` with a ``vddbench.DatasetSource``.

    A source has a unique ``name`` and ``load(spec, split, root)`` returning a ``vddbench.VideoSplit``
    for ``split`` in ``("train", "test")``. The test split is loaded only by the evaluator.
    """


@hookspec
def register_protocols(register):
    """Register protocols: call ``register(protocol)`` with a ``vddbench.Protocol``.

    A protocol fixes its datasets (each names a registered ``DatasetSource``), IPCs, seeds, students
    and evaluation recipe; its id is the hash of all of it. A plugin that registers a dataset can
    ship the protocol that evaluates on it here. ``vddbench.get_protocol(name)`` reads them all.
    """


@hookspec
def register_cached_inputs(register):
    """Register kinds of cached input: call ``register(kind)`` with a ``vddbench.CachedInput``.

    A cached input is built by the harness once per (protocol, dataset, seed, options) from the
    training split (``kind.build(context, options)`` returns named tensors), shared by every cell
    that asks for it (``task.cached(kind, **options)``), and never counted in a distiller's storage.
    vddbench registers ``teacher`` and ``expert-trajectories`` this way.
    """


@hookspec
def register_executors(register):
    """Register executors: call ``register(spec)`` with a ``vddbench.ExecutorSpec``.

    A spec names the executor (``vddbench run --executor NAME``), describes it in one line, names the
    modules it needs (and the extra that installs them) and declares its options
    (``vddbench.ExecutorOption``: name, type, default, help, repeatable), which become ``run`` flags and
    ``[run]`` keys of a config file. ``spec.factory(threads=..., **options)`` returns an object whose
    ``run(cells, results_root, on_done)`` runs each cell with ``vddbench.runner.run_cell`` and calls
    ``on_done(cell, records_or_exception)`` once per cell. vddbench registers ``local``, ``ray`` and
    ``slurm`` this way.
    """
