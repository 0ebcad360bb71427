from vddbench.testing import parametrize_with_checks
from vddbench_static_dc import StaticDC


@parametrize_with_checks([StaticDC])
def test_conformance(distiller, check):
    check(distiller)
