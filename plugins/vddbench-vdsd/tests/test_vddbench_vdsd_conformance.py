from vddbench_vdsd import MTTVDSD, VDSD, FRePoVDSD

from vddbench.testing import parametrize_with_checks


@parametrize_with_checks([VDSD, MTTVDSD, FRePoVDSD])
def test_conformance(distiller, check):
    check(distiller)
