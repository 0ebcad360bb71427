from vddbench_idtd import IDTD

from vddbench.testing import parametrize_with_checks


@parametrize_with_checks([IDTD])
def test_conformance(distiller, check):
    check(distiller)
