from vddbench_dm import DM

from vddbench.testing import parametrize_with_checks


@parametrize_with_checks([DM])
def test_conformance(distiller, check):
    check(distiller)
