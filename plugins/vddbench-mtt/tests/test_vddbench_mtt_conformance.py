from vddbench_mtt import MTT

from vddbench.testing import parametrize_with_checks


@parametrize_with_checks([MTT])
def test_conformance(distiller, check):
    check(distiller)
