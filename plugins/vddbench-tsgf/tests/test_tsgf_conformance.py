from vddbench.testing import parametrize_with_checks
from vddbench_tsgf import TSGF


@parametrize_with_checks([TSGF])
def test_conformance(distiller, check):
    check(distiller)
