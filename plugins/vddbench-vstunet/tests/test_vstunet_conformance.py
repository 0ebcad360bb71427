from vddbench_vstunet import VSTUNet

from vddbench.testing import parametrize_with_checks


@parametrize_with_checks([VSTUNet])
def test_conformance(distiller, check):
    check(distiller)
