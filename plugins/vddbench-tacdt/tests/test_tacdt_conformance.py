from vddbench.testing import parametrize_with_checks
from vddbench_tacdt import TACDT


@parametrize_with_checks([TACDT])
def test_conformance(distiller, check):
    check(distiller)
