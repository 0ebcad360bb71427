"""The built-in executors: local processes, Ray and SLURM (submitit)."""

from ..executors import BUILTIN_EXECUTORS
from ..hookspecs import hookimpl


@hookimpl
def register_executors(register):
    for spec in BUILTIN_EXECUTORS:
        register(spec)
