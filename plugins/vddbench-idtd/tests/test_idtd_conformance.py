from vddbench.testing import parametrize_with_checks
from vddbench_idtd import IDTD


@parametrize_with_checks([IDTD])
def test_conformance(distiller, check):
    check(distiller)
