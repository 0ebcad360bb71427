from vddbench_coresets import Herding, KCenter, RandomCoreset

from vddbench.testing import parametrize_with_checks


@parametrize_with_checks([RandomCoreset, Herding, KCenter])
def test_conformance(distiller, check):
    check(distiller)
