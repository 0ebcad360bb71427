"""The built-in students: VDSD's small students and the mmaction2 model zoo."""

from ..hookspecs import hookimpl
from ..students.catalog import BUILTIN_STUDENTS


@hookimpl
def register_students(register):
    for spec in BUILTIN_STUDENTS:
        register(spec)
