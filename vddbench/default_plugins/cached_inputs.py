"""The built-in cached inputs: a teacher network and expert trajectories."""

from ..hookspecs import hookimpl
from ..inputs.experts import EXPERTS
from ..inputs.teacher import TEACHER


@hookimpl
def register_cached_inputs(register):
    register(TEACHER)
    register(EXPERTS)
