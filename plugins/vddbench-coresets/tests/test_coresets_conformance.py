from vddbench.testing import parametrize_with_checks
from vddbench_coresets import Herding, KCenter, RandomCoreset


@parametrize_with_checks([RandomCoreset, Herding, KCenter])
def test_conformance(distiller, check):
    check(distiller)
