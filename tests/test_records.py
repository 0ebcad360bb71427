"""The typed record (from_json / to_json), protocol.json beside the records, and promote."""

import copy
import hashlib
import json
from pathlib import Path

import pytest
from record_fixtures import minimal_record

import vddbench
from vddbench.errors import ResultsError
from vddbench.results import (
    SCHEMA_VERSION,
    DistillerRef,
    Record,
    ResultStore,
    load_record,
    promote,
    protocol_id_of,
    record_problem,
)

ROOT = Path(__file__).resolve().parents[1]


def runner_record(**extra) -> dict:
    """A record with every field the runner writes (an own-recipe one), plus one this version does not know."""
    record = {
        "schema_version": SCHEMA_VERSION, "cell_key": "abcd", "protocol": "smoke", "protocol_id": "p0",
        "dataset": "moving-shapes", "ipc": 2, "seed": 0, "student": "convnet3d", "scoring": "own",
        "protocol_student": True, "metric": "top1", "status": "ok",
        "distiller": {"name": "mtt", "params": {"lr": 0.1, "steps": [1, 2]}, "distribution": "vddbench-mtt",
                      "version": "0.1.0"},
        "environment": {"device": "cpu", "torch": "2"}, "determinism": {"nondeterministic_ops": []},
        "data_coverage": None, "cached_inputs": {"expert-trajectories": {"sha256": "ff"}},
        "storage_bytes": 1234, "artifact_sha256": "00", "storage_basis": "artifact", "num_videos": 20,
        "soft_labels": False, "eval_augmentation": False, "own_eval_recipe": True,
        "eval_recipe": {"optimizer": "adam", "lr": 0.001}, "metrics": {"top1": 50.0, "top5": 90.0},
        "costs": {"distill_seconds": 1.0, "eval_seconds": 2.0}, "error": None,
        "a_field_from_a_newer_writer": {"kept": [1, 2]},
    }
    record.update(extra)
    return record


@pytest.mark.parametrize("data", [runner_record(), minimal_record(), runner_record(status="failed", metrics={},
                         error={"phase": "distill", "type": "E", "message": "m", "traceback": ""})])
def test_a_record_round_trips_every_field_unknown_ones_included(data):
    record = Record.from_json(data)
    assert record.to_json() == data
    assert Record.from_json(record.to_json()) == record
    assert json.dumps(record.to_json(), sort_keys=True) == json.dumps(data, sort_keys=True)


def test_typed_fields_and_defaults_of_absent_optional_ones():
    full = Record.from_json(runner_record())
    assert full.own_eval_recipe is True and full.eval_recipe == {"optimizer": "adam", "lr": 0.001}
    assert full.distiller == DistillerRef("mtt", {"lr": 0.1, "steps": [1, 2]}, "vddbench-mtt", "0.1.0")
    assert full.row_key == ("mtt", '{"lr": 0.1, "steps": [1, 2]}') and full.ok
    assert full.extra == {"a_field_from_a_newer_writer": {"kept": [1, 2]}}
    bare = Record.from_json(minimal_record())
    marks = (bare.soft_labels, bare.eval_augmentation, bare.own_eval_recipe)
    assert bare.scoring == "own" and marks == (False, False, False)
    assert bare.distiller.params == {} and "scoring" not in bare.to_json()  # absent stays absent


def test_a_record_does_not_share_state_with_the_dict_it_came_from():
    data = runner_record()
    record = Record.from_json(data)
    data["distiller"]["params"]["lr"] = 9.0
    data["metrics"]["top1"] = 0.0
    assert record.distiller.params["lr"] == 0.1 and record.metrics["top1"] == 50.0
    out = record.to_json()
    out["metrics"]["top1"] = 1.0
    assert record.metrics["top1"] == 50.0


@pytest.mark.parametrize("data, problem", [
    ([], "holds a JSON list, not a record object"),
    ({k: v for k, v in minimal_record().items() if k != "status"}, "lacks 'status'"),
    ({k: v for k, v in minimal_record().items() if k != "metrics"}, "is 'ok' but lacks numeric 'metrics'"),
    (minimal_record(schema_version=2), f"has schema_version 2; this vddbench reads {SCHEMA_VERSION}"),
    (minimal_record(status="failed"), "is 'failed' but lacks its 'error'"),
    (minimal_record(status="running"), "has status 'running' (expected 'ok' or 'failed')"),
    (minimal_record(seed="0"), "has a malformed 'seed'"),
    (minimal_record(ipc="1"), "has a malformed 'ipc'"),
    (minimal_record(distiller={"params": {}}), "lacks 'distiller.name'"),
    (minimal_record(distiller={"name": "x", "params": []}), "has a malformed 'distiller.params'"),
    (minimal_record(own_eval_recipe="yes"), "has a malformed 'own_eval_recipe'"),
    (minimal_record(scoring="mine"), "has scoring 'mine' (expected 'own' or 'plain')"),
    (minimal_record(storage_bytes=float("nan")), "is 'ok' but lacks 'storage_bytes' or 'costs'"),
])
def test_from_json_gives_record_problems_one_line(tmp_path, data, problem):
    assert record_problem(data) == problem
    with pytest.raises(ResultsError) as info:
        Record.from_json(data)
    assert str(info.value).startswith(f"record {problem}; delete it") and "\n" not in str(info.value)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(data))
    for read in (Record.load, load_record):
        with pytest.raises(ResultsError) as info:
            read(path)
        assert str(info.value).startswith(f"record {path} {problem}; delete it")


def test_the_store_reads_records_typed_and_as_the_dicts_on_disk(tmp_path):
    store = ResultStore(tmp_path)
    data = runner_record()
    path = store.record_path("p0", "moving-shapes", "mtt", "abcd", "convnet3d")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(data))
    (typed,) = store.typed_records()
    assert typed == Record.from_json(data) and list(store.records()) == [data]
    store.write_protocol('{"name":"x"}')  # protocol.json sits beside the records, not among them
    assert store.record_files() == [path]


# -- protocol.json and promote ---------------------------------------------------------------------
def _write(root: Path, rel: str, record: dict) -> Path:
    path = root / "records" / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def test_promote_keeps_the_canonical_json_of_a_defined_protocol(tmp_path, smoke):
    record = minimal_record(protocol="smoke", protocol_id=smoke.protocol_id, dataset="moving-shapes")
    _write(tmp_path / "run", f"{smoke.protocol_id}/moving-shapes/x/k--s.json", record)
    report = promote(tmp_path / "run", tmp_path / "official")
    kept = tmp_path / "official" / "records" / smoke.protocol_id / "protocol.json"
    assert report.protocols == [kept] and not report.notes and len(report.promoted) == 1
    assert kept.read_text() == smoke.canonical_json()
    assert hashlib.sha256(kept.read_bytes()).hexdigest()[:12] == smoke.protocol_id
    assert ResultStore(tmp_path / "official").protocols() == {smoke.protocol_id: json.loads(smoke.canonical_json())}
    assert promote(tmp_path / "run", tmp_path / "official").protocols == []  # kept already: not rewritten


def test_promote_copies_the_runs_protocol_json_and_notes_an_id_it_cannot_describe(tmp_path):
    old = json.dumps({"name": "old", "ipcs": [1]}, sort_keys=True, separators=(",", ":"))
    old_id = protocol_id_of(old)
    run = ResultStore(tmp_path / "run")
    run.write_protocol(old)
    _write(run.root, f"{old_id}/d/x/k--s.json", minimal_record(protocol="old", protocol_id=old_id))
    _write(run.root, "0123456789ab/d/x/k--s.json", minimal_record(protocol="gone", protocol_id="0123456789ab"))
    report = ResultStore(tmp_path / "run").promote_to(ResultStore(tmp_path / "official"))
    official = ResultStore(tmp_path / "official")
    assert official.stored_protocol(old_id) == old and official.stored_protocol("0123456789ab") is None
    (note,) = report.notes
    assert "does not define protocol id 0123456789ab" in note and "\n" not in note


def test_a_protocol_json_that_does_not_hash_to_its_id_is_refused_and_promote_replaces_it(tmp_path, smoke):
    official = ResultStore(tmp_path / "official")
    _write(official.root, f"{smoke.protocol_id}/moving-shapes/x/k--s.json",
           minimal_record(protocol="smoke", protocol_id=smoke.protocol_id))
    official.protocol_path(smoke.protocol_id).write_text('{"name":"another"}')
    with pytest.raises(ResultsError, match=f"does not hash to {smoke.protocol_id}"):
        official.protocols()
    _write(tmp_path / "run", "p/d/x/a.json", minimal_record())
    promote(tmp_path / "run", official)
    assert official.stored_protocol(smoke.protocol_id) == smoke.canonical_json()


def test_promote_still_never_replaces_an_ok_record(tmp_path):
    _write(tmp_path / "official", "p/d/x/a.json", minimal_record())
    _write(tmp_path / "run", "p/d/x/a.json", minimal_record(status="failed", error={"type": "E"}))
    report = promote(tmp_path / "run", tmp_path / "official")
    assert report.promoted == [] and "kept the ok record" in report.skipped[0]
    assert load_record(tmp_path / "official/records/p/d/x/a.json")["status"] == "ok"


def test_promote_can_refuse_records_that_are_not_the_protocols_configuration(tmp_path, smoke):
    from vddbench.plugins import get_registry
    from vddbench.runner import not_the_protocols_configuration

    dm = get_registry().distillers["dm"].obj
    params = dm(**dm.defaults_for("smoke")).get_params()

    def dm_record(**changed):
        return minimal_record(protocol="smoke", protocol_id=smoke.protocol_id,
                              distiller={"name": "dm", "params": {**params, **changed}})

    _write(tmp_path / "run", f"{smoke.protocol_id}/d/dm/a--s.json", dm_record())
    variant = _write(tmp_path / "run", f"{smoke.protocol_id}/d/dm/b--s.json", dm_record(iterations=2))
    _write(tmp_path / "run", "0123456789ab/d/dm/c--s.json",  # a protocol id this code does not define
           {**dm_record(iterations=2), "protocol_id": "0123456789ab"})
    _write(tmp_path / "run", f"{smoke.protocol_id}/d/x/d--s.json",  # a distiller not installed
           minimal_record(protocol="smoke", protocol_id=smoke.protocol_id, distiller={"name": "x", "params": {"a": 1}}))
    report = promote(tmp_path / "run", tmp_path / "official", not_the_protocols_configuration)
    assert len(report.promoted) == 3
    (skipped,) = report.skipped
    assert skipped == (f"{variant}: distiller 'dm' ran with {{\"iterations\": 2}}, not protocol 'smoke's "
                       f"configuration (pass --variants to promote it anyway)")
    assert len(promote(tmp_path / "run", tmp_path / "all").promoted) == 4


def test_the_committed_records_keep_the_protocol_json_of_every_id():
    store = ResultStore(ROOT / "leaderboards")
    ids = sorted(p.name for p in (store.root / "records").iterdir() if p.is_dir())
    kept = store.protocols()  # each hashes to its id, or this raises
    assert sorted(kept) == ids
    embedded = vddbench.get_protocol("embedded")
    if embedded.protocol_id in kept:
        assert store.stored_protocol(embedded.protocol_id) == embedded.canonical_json()
    assert kept["376290b0ecf9"]["name"] == "embedded" and kept["376290b0ecf9"]["seeds"] == [0, 1, 2]


def test_records_written_by_a_run_round_trip(tmp_path, smoke):
    from vddbench.runner import plan, run_cell

    (cell,) = plan(smoke, ["random"], ipcs=[1])
    (written,) = run_cell(cell, str(tmp_path))
    (path,) = ResultStore(tmp_path).record_files()
    on_disk = json.loads(path.read_text())
    assert Record.load(path).to_json() == on_disk == json.loads(json.dumps(copy.deepcopy(written)))
