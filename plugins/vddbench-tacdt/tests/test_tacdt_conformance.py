from vddbench_tacdt import TACDT

from vddbench.testing import parametrize_with_checks


@parametrize_with_checks([TACDT])
def test_conformance(distiller, check):
    check(distiller)
