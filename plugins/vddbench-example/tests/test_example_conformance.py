from vddbench_example import ClassMean

from vddbench.testing import parametrize_with_checks


@parametrize_with_checks([ClassMean])
def test_conformance(distiller, check):
    check(distiller)
