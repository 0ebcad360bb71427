from vddbench.testing import parametrize_with_checks
from vddbench_mtt import MTT


@parametrize_with_checks([MTT])
def test_conformance(distiller, check):
    check(distiller)
