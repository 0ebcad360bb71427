"""Each real layout, generated small: verified, cached, distilled with `random`, evaluated."""

import pytest

from vddbench import executors, leaderboard
from vddbench.cli import main
from vddbench.data.verify import complete, verify
from vddbench.executors.local import LocalExecutor
from vddbench.protocol import PROTOCOLS
from vddbench.protocols import HMDB51, KINETICS400, MINIUCF, SSV2
from vddbench.results import ResultStore
from vddbench.testing import datasets as fixtures

UCF = ("Biking", "Diving", "Skiing")
HMDB = ("brush_hair", "cartwheel", "chew")
K400 = ("abseiling", "air drumming")
SSV2_TEMPLATES = ("Pushing [something] from left to right", "Holding [something]")

LAYOUTS = {
    "ucf101": (MINIUCF, UCF, lambda root: fixtures.make_ucf101(root, UCF, other_classes=("YoYo",))),
    "hmdb51": (HMDB51, HMDB, lambda root: fixtures.make_hmdb51(root, HMDB)),
    "kinetics400": (KINETICS400, K400, lambda root: fixtures.make_kinetics(root, K400, class_folders=False)),
    "ssv2": (SSV2, SSV2_TEMPLATES, lambda root: fixtures.make_ssv2(root, SSV2_TEMPLATES)),
    "mmaction2-videos": (MINIUCF, UCF, lambda root: fixtures.make_mmaction(root, "ucf101", UCF)),
    "mmaction2-rawframes": (HMDB51, HMDB, lambda root: fixtures.make_mmaction(root, "hmdb51", HMDB, rawframes=True)),
}


def _run(tmp_path, monkeypatch, base, classes, root):
    monkeypatch.setenv("VDDBENCH_CACHE", str(tmp_path / "cache"))
    protocol = fixtures.small_protocol(base, len(classes), classes if base is MINIUCF else None)
    monkeypatch.setitem(PROTOCOLS, protocol.name, protocol)
    # this protocol exists only in this process: run its cells here rather than in worker processes
    monkeypatch.setattr(executors, "get_executor", lambda name, **options: LocalExecutor(in_process=True))
    common = ["--protocol", protocol.name]
    assert main(["data", "cache", "--dataset", base.name, "--root", str(root), *common]) == 0
    assert main(["run", *common, "--distiller", "random", "--data-root", str(root),
                 "--results", str(tmp_path / "results"), "--workers", "1"]) == 0
    records = list(ResultStore(tmp_path / "results").records())
    return protocol, records


@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_is_verified_cached_distilled_and_evaluated(tmp_path, monkeypatch, layout):
    base, classes, make = LAYOUTS[layout]
    root = make(tmp_path / "data")
    protocol = fixtures.small_protocol(base, len(classes), classes if base is MINIUCF else None)
    report = verify(protocol.datasets[0], root, progress=False)
    assert complete(report) and not report["extras"]
    _, records = _run(tmp_path, monkeypatch, base, classes, root)
    assert len(records) == 1 and records[0]["status"] == "ok", records[0].get("error")
    r = records[0]
    assert set(r["metrics"]) == {"top1", "top5"} and r["num_videos"] == len(classes)
    assert r["data_coverage"]["train"]["fraction"] == r["data_coverage"]["test"]["fraction"] == 1.0


def test_leaderboard_footnotes_a_dataset_below_full_coverage(tmp_path, monkeypatch):
    root = fixtures.make_ucf101(tmp_path / "data", UCF[:2], train=2, test=2, other_classes=())
    (root / "UCF-101/Biking/v_Biking_g01_c01.avi").unlink()
    protocol, records = _run(tmp_path, monkeypatch, MINIUCF, UCF[:2], root)
    assert records[0]["data_coverage"]["test"]["fraction"] == 0.75
    markdown = leaderboard.render(records, "results")[protocol.datasets[0].name]
    assert "Dataset coverage below 100%: test 75.0% (3 of 4 listed videos)" in markdown


def test_run_without_or_with_a_wrong_data_root_is_one_clear_error(tmp_path, capsys):
    args = ["run", "--protocol", "miniucf", "--distiller", "random", "--results", str(tmp_path / "results")]
    for extra in ([], ["--data-root", str(tmp_path)]):
        assert main(args + extra) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "dataset 'miniucf'" in err[0] and "--data-root" in err[0]
    assert not (tmp_path / "results" / "records").exists()
