from vddbench.testing import parametrize_with_checks
from vddbench_vstunet import VSTUNet


@parametrize_with_checks([VSTUNet])
def test_conformance(distiller, check):
    check(distiller)
