"""VDSD, "Dancing with Still Images: Video Distillation via Static-Dynamic Disentanglement"
(Wang, Xu, Lu, Li; CVPR 2024), as a parameterisation of any matching objective.

The parameterisation (static memory from Static-DC, dynamic memory, one Conv3d hallucinator) lives
once in :mod:`vddbench_vdsd.memory`; three distillers learn it with different objectives:

* ``vdsd`` (:class:`VDSD`): DM+VDSD, DM's mean-embedding loss;
* ``mtt-vdsd`` (:class:`MTTVDSD`): MTT+VDSD, MTT's trajectory-matching loss (``vddbench_mtt``);
* ``frepo-vdsd`` (:class:`FRePoVDSD`): FRePo+VDSD, FRePo's kernel-ridge-regression loss with learned
  labels (``vddbench_frepo``).
"""

from __future__ import annotations

import vddbench

from . import memory
from .base import StaticDynamicDistiller
from .dm import VDSD
from .frepo import FRePoVDSD
from .memory import Memory, hallucinate
from .mtt import MTTVDSD

__all__ = ["VDSD", "MTTVDSD", "FRePoVDSD", "StaticDynamicDistiller", "Memory", "hallucinate", "memory",
           "register_distillers"]


@vddbench.hookimpl
def register_distillers(register):
    register(VDSD)
    register(MTTVDSD)
    register(FRePoVDSD)
