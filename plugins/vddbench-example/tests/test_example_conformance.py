from vddbench.testing import parametrize_with_checks
from vddbench_example import ClassMean


@parametrize_with_checks([ClassMean])
def test_conformance(distiller, check):
    check(distiller)
