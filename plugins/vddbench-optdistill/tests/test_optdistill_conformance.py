from vddbench_optdistill import OptDistill

from vddbench.testing import parametrize_with_checks


@parametrize_with_checks([OptDistill])
def test_conformance(distiller, check):
    check(distiller)
