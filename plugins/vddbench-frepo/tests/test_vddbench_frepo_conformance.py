from vddbench_frepo import FRePo

from vddbench.testing import parametrize_with_checks


@parametrize_with_checks([FRePo])
def test_conformance(distiller, check):
    check(distiller)
