"""vddbench compare: a rerun's records against the official ones, record by record and row by row."""

import json

import pytest
from record_fixtures import minimal_record

from vddbench.cli import main
from vddbench.compare import compare, render
from vddbench.results import Record

CPU_A = {"device": "cpu", "cpu": "Xeon", "cpu_capability": "AVX512"}
CPU_B = {"device": "cpu", "cpu": "EPYC", "cpu_capability": "AVX2"}


def rec(seed, top1, distiller="dm", student="convnet3d", sha="s", protocol="p", env=None, **extra):
    extra.setdefault("cell_key", f"{distiller}{seed}")
    return minimal_record(protocol_id=protocol, seed=seed, distiller={"name": distiller}, student=student,
                          artifact_sha256=sha, metric="top1",
                          metrics={"top1": top1}, environment=env, **extra)


def typed(records):
    return [Record.from_json(r) for r in records]


def write(root, records):
    for i, r in enumerate(records):
        path = root / "records" / r["protocol_id"] / r["dataset"] / r["distiller"]["name"] / f"{i}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(r))
    return str(root)


def test_identical_records_are_counted_and_no_row_is_shown():
    records = [rec(s, 50.0 + s) for s in range(3)]
    c = compare(typed(records), typed(records))
    assert (c.pairs, c.identical, c.only_a, c.only_b) == (3, 3, 0, 0)
    (row,) = c.rows
    assert row.difference == (0.0, 0.0, 3) and not row.significant
    text = render(c, "A", "B")
    assert "3 records in both: 3 identical" in text and "dm" not in text  # only rows that differ


def test_a_shift_larger_than_seed_noise_is_marked_and_a_noisy_one_is_not():
    a = [rec(s, 50.0 + s, env=CPU_A) for s in range(4)] + [rec(s, 40.0, distiller="tsgf", env=CPU_A) for s in range(4)]
    b = ([rec(s, 52.0 + s + 0.1 * s, env=CPU_B) for s in range(4)]
         + [rec(s, 40.0 + d, distiller="tsgf", env=CPU_B) for s, d in enumerate((3.0, -3.0, 2.0, -2.0))])
    c = compare(typed(a), typed(b))
    rows = {r.distiller: r for r in c.rows}
    assert rows["dm"].significant and rows["dm"].difference[0] == pytest.approx(2.15)
    assert not rows["tsgf"].significant and rows["tsgf"].max_abs == 3.0
    assert rows["dm"].same_artifact == 4 and rows["dm"].identical == 0
    assert c.cpus_a == ("Xeon (AVX512)",) and c.cpus_b == ("EPYC (AVX2)",)
    text = render(c, "A", "B")
    assert "+2.2 ± 0.2 *" in text.split("\n")[6] and "EPYC (AVX2)" in text


def test_other_protocols_and_failed_records_are_left_out_of_the_counts():
    a = [rec(0, 50.0), rec(1, 51.0), rec(0, 9.0, protocol="other")]
    b = [rec(0, 50.0), minimal_record(status="failed", protocol_id="p", seed=1, distiller={"name": "dm"},
                                      cell_key="dm1", error={"phase": "distill"}, metrics={})]
    c = compare(typed(a), typed(b))
    assert c.protocols == ("p",) and (c.pairs, c.identical, c.only_a, c.only_b) == (1, 1, 1, 0)
    assert c.cpus_a == ("unknown CPU (recorded before vddbench named it)",)


def test_cli_exact_fails_on_any_difference_and_on_nothing_to_compare(tmp_path, capsys):
    a = write(tmp_path / "a", [rec(s, 50.0) for s in range(2)])
    b = write(tmp_path / "b", [rec(0, 50.0), rec(1, 50.1)])
    other = write(tmp_path / "c", [rec(0, 50.0, protocol="q")])
    assert main(["compare", a, a, "--exact"]) == 0
    assert main(["compare", a, b]) == 0
    assert main(["compare", a, b, "--exact"]) == 1
    out = capsys.readouterr().out
    assert "2 records in both: 1 identical" in out and "1/2" in out
    assert main(["compare", a, other]) == 1
    assert "no record of" in capsys.readouterr().err
    assert main(["compare", a, str(tmp_path / "empty")]) == 2
    assert f"no records under {tmp_path / 'empty' / 'records'}" in capsys.readouterr().err


def test_rows_follow_the_board_order_full_reference_first_then_ipc_numerically():
    records = [rec(0, 50.0, ipc=ipc, cell_key=f"k{ipc}") for ipc in (10, 5, None, 1)]
    assert [r.ipc for r in compare(typed(records), typed(records)).rows] == [None, 1, 5, 10]
