"""vddbench's built-in protocols: ``embedded`` and ``smoke`` (generated data), and one per real
dataset (MiniUCF, HMDB51, Kinetics-400, SSv2). Registered through the ``register_protocols`` hook,
as a plugin's would be; read them with ``vddbench.get_protocol(name)``.
"""

from __future__ import annotations

from .embedded import EMBEDDED, MOVING_SHAPES, SMOKE
from .real import HMDB51, KINETICS400, MINIUCF, REAL_PROTOCOLS, REAL_STUDENTS, SSV2

BUILTIN_PROTOCOLS = (EMBEDDED, SMOKE, *REAL_PROTOCOLS)

__all__ = ["BUILTIN_PROTOCOLS", "EMBEDDED", "HMDB51", "KINETICS400", "MINIUCF", "MOVING_SHAPES", "REAL_PROTOCOLS",
           "REAL_STUDENTS", "SMOKE", "SSV2"]
