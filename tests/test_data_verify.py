"""``vddbench data verify`` reports missing, extra and undecodable videos and the coverage."""

import json

from vddbench.cli import main
from vddbench.protocol import PROTOCOLS
from vddbench.protocols import MINIUCF
from vddbench.testing import datasets as fixtures

CLASSES = ("Biking", "Diving")


def test_verify_reports_a_truncated_and_a_missing_video(tmp_path, capsys):
    fixtures.make_ucf101(tmp_path, CLASSES, train=2, test=1, other_classes=(), frames=120)
    fixtures.truncate(tmp_path / "UCF-101/Biking/v_Biking_g09_c01.avi", 0.5)  # header: 120 frames, ~40 decode
    (tmp_path / "UCF-101/Diving/v_Diving_g01_c01.avi").unlink()
    fixtures.write_video(tmp_path / "UCF-101/Diving/v_Diving_g40_c02.avi", 1, 9, frames=8)
    assert main(["data", "verify", "--dataset", "miniucf", "--root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "train 4 listed, 4 found, 0 missing, 1 undecodable: coverage 75.00%" in out
    assert "test  2 listed, 1 found, 1 missing, 0 undecodable: coverage 50.00%" in out
    assert "Biking/v_Biking_g09_c01.avi: truncated: its header promises 120 frames" in out
    assert "test  Diving/v_Diving_g01_c01.avi" in out and "UCF-101/Diving/v_Diving_g40_c02.avi" in out


def test_verify_passes_a_complete_copy_and_can_print_json(tmp_path, capsys, monkeypatch):
    protocol = fixtures.small_protocol(MINIUCF, 2, CLASSES)
    monkeypatch.setitem(PROTOCOLS, protocol.name, protocol)
    fixtures.make_ucf101(tmp_path, CLASSES, train=1, test=1, other_classes=(), frames=20)
    args = ["data", "verify", "--dataset", "miniucf", "--protocol", protocol.name, "--root", str(tmp_path)]
    assert main(args) == 0
    assert "coverage 100.00%" in capsys.readouterr().out
    assert main(args + ["--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["splits"]["test"]["fraction"] == 1.0 and report["extras"] == []


def test_verify_without_decoding_and_with_a_wrong_root(tmp_path, capsys):
    assert main(["data", "verify", "--dataset", "ssv2", "--root", str(tmp_path / "absent")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "ssv2" in err and str(tmp_path / "absent") in err
    fixtures.make_ucf101(tmp_path, CLASSES, train=1, test=1, other_classes=(), frames=8)
    assert main(["data", "verify", "--dataset", "miniucf", "--root", str(tmp_path), "--no-decode"]) == 1
    assert "not decoded (--no-decode)" in capsys.readouterr().out
