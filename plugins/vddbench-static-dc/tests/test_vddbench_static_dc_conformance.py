from vddbench_static_dc import StaticDC

from vddbench.testing import parametrize_with_checks


@parametrize_with_checks([StaticDC])
def test_conformance(distiller, check):
    check(distiller)
