from vddbench.testing import parametrize_with_checks
from vddbench_vdsd import VDSD


@parametrize_with_checks([VDSD])
def test_conformance(distiller, check):
    check(distiller)
