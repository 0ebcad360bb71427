from vddbench_tsgf import TSGF

from vddbench.testing import parametrize_with_checks


@parametrize_with_checks([TSGF])
def test_conformance(distiller, check):
    check(distiller)
