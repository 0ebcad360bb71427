from vddbench.testing import parametrize_with_checks
from vddbench_optdistill import OptDistill


@parametrize_with_checks([OptDistill])
def test_conformance(distiller, check):
    check(distiller)
