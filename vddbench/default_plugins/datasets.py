"""The built-in datasets: the embedded moving shapes and the real datasets' sources."""

from ..data.moving_shapes import MovingShapes
from ..data.sources import REAL_SOURCES
from ..hookspecs import hookimpl


@hookimpl
def register_datasets(register):
    register(MovingShapes())
    for source in REAL_SOURCES:
        register(source)
