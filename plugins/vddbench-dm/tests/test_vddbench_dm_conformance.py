from vddbench.testing import parametrize_with_checks
from vddbench_dm import DM


@parametrize_with_checks([DM])
def test_conformance(distiller, check):
    check(distiller)
