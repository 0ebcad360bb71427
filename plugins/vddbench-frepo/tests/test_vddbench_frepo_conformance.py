from vddbench.testing import parametrize_with_checks
from vddbench_frepo import FRePo


@parametrize_with_checks([FRePo])
def test_conformance(distiller, check):
    check(distiller)
