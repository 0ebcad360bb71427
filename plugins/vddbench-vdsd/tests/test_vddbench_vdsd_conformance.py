from vddbench.testing import parametrize_with_checks
from vddbench_vdsd import MTTVDSD, VDSD, FRePoVDSD


@parametrize_with_checks([VDSD, MTTVDSD, FRePoVDSD])
def test_conformance(distiller, check):
    check(distiller)
