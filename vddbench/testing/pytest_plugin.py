"""vddbench's pytest plugin (entry point ``pytest11``): fixtures for a distiller plugin's tests.

Inert unless a test asks for one of its fixtures: it adds no options or hooks, and imports nothing
but pytest until a fixture runs. The fixtures:

* ``vddbench_protocol``: the ``smoke`` protocol (tiny moving shapes; seconds per cell).
* ``vddbench_task``: ``vddbench_task(ipc=1, seed=0, device="cpu")`` -> a ``DistillTask`` on the
  smoke training split, with the harness's student and teacher factories.
* ``vddbench_registry``: the registry of installed plugins, reloaded for this test.
* ``vddbench_register``: ``vddbench_register(MyVariant, ...)`` installs distillers as a temporary
  plugin (a real entry point) until the test ends.
* ``vddbench_run``: ``vddbench_run("my-method", ipc=1)`` runs the real harness on the smoke
  protocol into a temporary results directory and returns the records it wrote.
* ``vddbench_one_thread``: torch on one thread for the test, as the harness runs a cell (numbers
  stay comparable on a shared machine). Use it for a whole module with
  ``pytestmark = pytest.mark.usefixtures("vddbench_one_thread")``.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def vddbench_protocol():
    """The smoke protocol the conformance kit uses."""
    import vddbench

    return vddbench.get_protocol("smoke")


@pytest.fixture
def vddbench_task():
    """A factory of DistillTasks on the smoke protocol's training split."""
    from vddbench.testing.bench import make_task

    def make(ipc: int = 1, seed: int = 0, device: str = "cpu", protocol: str = "smoke"):
        return make_task(protocol, ipc=ipc, seed=seed, device=device)

    return make


@pytest.fixture
def vddbench_registry():
    """The plugin registry, reloaded before and after the test."""
    from vddbench.plugins import get_registry, reset_registry

    reset_registry()
    yield get_registry()
    reset_registry()


@pytest.fixture
def vddbench_register():
    """Install distiller classes as a temporary plugin for the rest of the test."""
    from contextlib import ExitStack

    from vddbench.testing.temporary_plugin import temporary_plugin

    with ExitStack() as stack:
        def register(*distillers, dist: str = "vddbench-test-plugin"):
            return stack.enter_context(temporary_plugin(*distillers, dist=dist))

        yield register


@pytest.fixture
def vddbench_run(tmp_path):
    """Run the harness (plan + run_cell, as ``vddbench run`` does) on a protocol into tmp_path."""
    from vddbench.protocol import get_protocol
    from vddbench.runner import plan, run_cell

    def run(distiller: str, ipc: int | None = None, protocol: str = "smoke", results=None) -> list[dict]:
        proto = get_protocol(protocol)
        root = str(results or tmp_path / "results")
        records = []
        for cell in plan(proto, [distiller], ipcs=None if ipc is None else [ipc]):
            records.extend(run_cell(cell, root))
        return records

    return run


@pytest.fixture
def vddbench_one_thread():
    """torch on one thread for this test, as the harness runs a cell; restored afterwards."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
