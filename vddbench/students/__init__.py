"""Students: architectures trained on distilled videos, all built through mmaction2's registry.

A :class:`StudentSpec` turns ``(num_classes, clip)`` into an mmaction2 model config (a plain dict,
hashed into the protocol id). :func:`build_student` builds it with mmaction2's ``MODELS`` registry
and wraps it as a :class:`Student`: ``forward`` gives logits, ``embed`` pooled features.
"""

from .spec import Student, StudentSpec, build_student, reinitialize, student_config

__all__ = ["Student", "StudentSpec", "build_student", "reinitialize", "student_config"]
