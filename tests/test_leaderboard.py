import copy

import pytest

from vddbench import leaderboard
from vddbench.protocols import EMBEDDED

P = EMBEDDED


def record(distiller="random", ipc=1, seed=0, student="convnet3d", top1=20.0, status="ok", **extra):
    r = {
        "schema_version": 1, "protocol": P.name, "protocol_id": P.protocol_id, "dataset": "moving-shapes",
        "ipc": ipc, "seed": seed, "student": student, "status": status, "metric": "top1",
        "distiller": {"name": distiller, "params": {}, "distribution": "pkg", "version": "1.0"},
        "metrics": {"top1": top1, "top5": 90.0}, "storage_bytes": 1_000_000, "soft_labels": False,
        "eval_augmentation": False,
        "costs": {"distill_seconds": 1.0, "distill_peak_mib": 10.0, "eval_seconds": 2.0, "eval_peak_mib": 20.0},
        "error": None,
    }
    r.update(extra)
    return r


def test_accuracy_is_mean_and_95_ci_n_and_missing_cells_are_dashes():
    records = [record(top1=20.0, seed=0), record(top1=30.0, seed=1)]
    md = leaderboard.render(records, "r")["moving-shapes"]
    row = next(line for line in md.splitlines() if line.startswith("| random"))
    assert "25.0 ± 63.5 (2)" in row  # t(1) = 12.706 x 7.07 / sqrt(2)
    assert row.count("—") == 5  # IPC 5 and 10 were not run, never averaged; no vs-random for random


def test_vs_random_is_paired_by_seed_and_marked_when_the_ci_excludes_zero():
    random = [record(seed=s, top1=t) for s, t in enumerate([20.0, 30.0, 25.0])]
    better = [record("dm", seed=s, top1=t + 5 + 0.1 * s) for s, t in enumerate([20.0, 30.0, 25.0])]
    unpaired = [record("idtd", seed=s + 10, top1=90.0) for s in range(3)]
    md = leaderboard.render(random + better + unpaired, "r")["moving-shapes"]
    dm = next(line for line in md.splitlines() if line.startswith("| dm"))
    assert "+5.1 ± 0.2 ▲" in dm  # the seed-to-seed spread of 5 cancels in the paired difference
    idtd = next(line for line in md.splitlines() if line.startswith("| idtd"))
    assert "▲" not in idtd and idtd.split(" | ")[3] == "—"  # no common seeds: no difference shown


def test_plain_scores_follow_their_marked_row():
    own = [record("tsgf", seed=s, top1=40.0 + s, soft_labels=True, eval_augmentation=True) for s in range(2)]
    plain = [record("tsgf", seed=s, top1=30.0 + s, scoring="plain") for s in range(2)]
    lines = leaderboard.render(own + plain, "r")["moving-shapes"].splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("| tsgf † ‡"))
    assert "40.5" in lines[i] and lines[i + 1].startswith("| ↳ tsgf, plain") and "30.5" in lines[i + 1]


def test_a_variants_plain_score_follows_it_under_its_own_label():
    def tsgf(videomix, top1, **extra):
        r = record("tsgf", top1=top1, **extra)
        r["distiller"]["params"] = {"videomix": videomix, "lr": 0.25}
        return r

    records = [tsgf(True, 40.0, soft_labels=True, eval_augmentation=True), tsgf(True, 30.0, scoring="plain"),
               tsgf(False, 35.0, soft_labels=True), tsgf(False, 25.0, scoring="plain")]
    lines = [line for line in leaderboard.render(records, "r")["moving-shapes"].splitlines() if "tsgf" in line]
    assert [line.split(" | — |")[0] for line in lines[:4]] == [
        "| tsgf (videomix=False) † | pkg 1.0 | 35.0 (1)",
        "| ↳ tsgf (videomix=False), plain (hard labels, no augmentation) |  | 25.0 (1)",
        "| tsgf (videomix=True) † ‡ | pkg 1.0 | 40.0 (1)",
        "| ↳ tsgf (videomix=True), plain (hard labels, no augmentation) |  | 30.0 (1)"]


def test_full_reference_repeats_across_ipc_columns_and_comes_first():
    md = leaderboard.render([record(), record("full", ipc=None, top1=70.0)], "r")["moving-shapes"]
    rows = [line for line in md.splitlines() if line.startswith("| full") or line.startswith("| random")]
    assert rows[0].startswith("| full") and rows[0].count("70.0 (1)") == 3


def test_plugin_names_are_escaped():
    evil = record()
    evil["distiller"] = {"name": "x|y*", "params": {}, "distribution": "p|kg", "version": "<b>1</b>"}
    md = leaderboard.render([evil], "r")["moving-shapes"]
    assert "x\\|y\\*" in md and "p\\|kg" in md and "<b>" not in md
    header = next(line for line in md.splitlines() if line.startswith("| distiller"))
    row = next(line for line in md.splitlines() if line.startswith("| x"))
    assert row.count(" | ") == header.count(" | ")  # escaped pipes do not add cells


def test_other_protocol_ids_are_never_mixed_in():
    other = record(top1=99.0)
    other["protocol_id"] = "0123456789ab"
    md = leaderboard.render([record(), other], "r")["moving-shapes"]
    assert "99.0" not in md and "1 record(s) from other protocol ids are not shown" in md


def test_soft_labels_and_augmentation_are_marked():
    md = leaderboard.render([record("tsgf", soft_labels=True, eval_augmentation=True)], "r")["moving-shapes"]
    assert "| tsgf † ‡" in md


def test_failed_records_are_listed_not_averaged():
    failed = record(status="failed", error={"type": "RuntimeError", "message": "boom"})
    del failed["metrics"]
    md = leaderboard.render([record(), failed], "r")["moving-shapes"]
    assert "## Failed" in md and "RuntimeError: boom" in md and "20.0 (1)" in md


def test_rendering_is_deterministic_and_check_detects_stale_files(tmp_path):
    records = [record(), record(seed=1, top1=22.0), record(student="cnn-mean", top1=12.0)]
    leaderboard.write(records, "r", tmp_path)
    assert (tmp_path / "moving-shapes.png").stat().st_size > 0
    assert leaderboard.stale(list(reversed(records)), "r", tmp_path) == []
    changed = copy.deepcopy(records)
    changed[0]["metrics"]["top1"] = 50.0
    assert leaderboard.stale(changed, "r", tmp_path) == [f"{tmp_path / 'moving-shapes.md'} is stale"]


@pytest.mark.parametrize("values, expected", [([], "—"), ([1.0], "1.0 (1)"), ([1.0, 3.0], "2.0 ± 12.7 (2)"),
                                              ([1.0, 2.0, 3.0, 4.0, 5.0], "3.0 ± 2.0 (5)")])
def test_mean_ci_text(values, expected):
    assert leaderboard.mean_ci_text(values) == expected


def test_cost_table_names_the_cached_inputs_left_out_of_distill_seconds():
    teacher = {"kind": "teacher", "options": {"arch": "minic3d"}, "sha256": "ab"}
    older = {"expert-trajectories": {"sha256": "ff"}}  # how older records name them
    records = [record(), record("tsgf", cached_inputs=[teacher]), record("mtt", cached_inputs=older)]
    md = leaderboard.render(records, "r")["moving-shapes"]
    cost = md[md.index("## Cost"):]
    rows = {tuple(line.split(" | ")[:2]): line for line in cost.splitlines() if line.startswith("| ")}
    assert rows[("| distiller", "IPC")].endswith("| cached inputs |")
    assert rows[("| tsgf", "1")].endswith("| teacher |") and rows[("| mtt", "1")].endswith("| expert-trajectories |")
    assert rows[("| random", "1")].endswith("| — |")
