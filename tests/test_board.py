"""The board model, its markdown and plot renderers, boards of protocols the code no longer defines,
and the § mark (a distiller's own evaluation recipe)."""

import json
from pathlib import Path

from test_leaderboard import record  # noqa: I001 (tests/ is on sys.path)

from vddbench import cli, leaderboard
from vddbench.leaderboard import build_boards
from vddbench.leaderboard.markdown import HOW_TO_READ, label
from vddbench.protocols import EMBEDDED
from vddbench.results import ResultStore, protocol_id_of

ROOT = Path(__file__).resolve().parents[1]


def _old_protocol() -> tuple[str, dict]:
    """A protocol this code does not define: the embedded one with other seeds and description."""
    body = json.loads(EMBEDDED.canonical_json())
    body.update(description="an older moving shapes", seeds=[0, 1, 2], a_field_since_removed=1.0)
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return protocol_id_of(text), body


def test_the_board_model_holds_plain_values_and_marks_as_data():
    records = [record("tsgf", seed=s, top1=40.0 + s, soft_labels=True, eval_augmentation=True) for s in range(2)]
    records += [record("tsgf", seed=s, top1=30.0 + s, scoring="plain") for s in range(2)]
    (board,) = build_boards(records)
    own, plain = board.accuracy
    assert own.head.marks == ("†", "‡") and not own.plain and plain.plain
    assert own.cells[0].estimate.mean == 40.5 and own.cells[0].estimate.n == 2 and own.cells[1].estimate is None
    assert board.marks == {"†", "‡"} and board.dataset.metric == "top1"
    assert board.protocol.source == "code" and board.protocol.protocol_id == EMBEDDED.protocol_id
    assert [s.head.text for s in board.series] == ["tsgf † ‡"]


def test_only_the_markdown_renderer_escapes():
    evil = record()
    evil["distiller"] = {"name": "a_b|c", "params": {}, "distribution": "p", "version": "1"}
    (board,) = build_boards([evil])
    head = board.accuracy[0].head
    assert head.text == "a_b|c" and head.distiller == "a_b|c"  # the model and the plot: plain text
    assert label(head) == "a\\_b\\|c"


def test_variants_of_one_distiller_are_told_apart_by_the_params_that_differ():
    a, b, c = record("dm", lr=1), record("dm"), record("random")
    a["distiller"]["params"] = {"lr": 0.1, "iterations": 10, "init": "real"}
    b["distiller"]["params"] = {"lr": 1.0, "iterations": 10, "init": "real"}
    c["distiller"]["params"] = {"k": 1}
    (board,) = build_boards([a, b, c])
    assert [r.head.text for r in board.accuracy] == ["dm (lr=0.1)", "dm (lr=1.0)", "random"]


def test_own_evaluation_recipe_is_marked_and_its_plain_score_follows():
    own = [record("mtt", seed=s, top1=50.0 + s, own_eval_recipe=True,
                  eval_recipe={"optimizer": "adam", "lr": 0.001}) for s in range(2)]
    plain = [record("mtt", seed=s, top1=35.0 + s, scoring="plain", own_eval_recipe=False) for s in range(2)]
    md = leaderboard.render(own + plain + [record()], "r")["moving-shapes"]
    lines = md.splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("| mtt §"))
    assert "50.5" in lines[i] and lines[i + 1].startswith("| ↳ mtt, plain") and "35.5" in lines[i + 1]
    assert "§ the distiller's own evaluation recipe" in md and "the protocol's recipe" in md
    assert HOW_TO_READ not in md


def test_records_without_the_own_recipe_field_render_as_before():
    records = [record("tsgf", soft_labels=True), record()]
    assert all("own_eval_recipe" not in r for r in records)
    md = leaderboard.render(records, "r")["moving-shapes"]
    assert HOW_TO_READ in md and "§" not in md and "| tsgf † |" in md


def test_a_protocol_the_code_no_longer_defines_renders_from_its_protocol_json():
    old_id, body = _old_protocol()
    old = [record("dm", seed=s, top1=30.0 + s) for s in range(2)] + [record(seed=0, top1=25.0)]
    for r in old:
        r["protocol_id"] = old_id
    boards = leaderboard.render(old + [record(top1=20.0)], "recs", {old_id: body})
    assert set(boards) == {"moving-shapes", f"moving-shapes-{old_id}"}
    md = boards[f"moving-shapes-{old_id}"]
    assert f"(id `{old_id}`): an older moving shapes" in md and "seeds 0, 1, 2;" in md
    assert f"no longer defines protocol id `{old_id}`" in md and f"`recs/{old_id}/protocol.json`" in md
    assert "| dm | pkg 1.0 | 30.5 ± 6.4 (2) |" in md and "20.0" not in md
    current = boards["moving-shapes"]
    assert "30.5" not in current and "3 record(s) from other protocol ids are not shown" in current
    assert f"[moving-shapes-{old_id}.md](moving-shapes-{old_id}.md)" in current


def test_without_protocol_json_the_board_shows_what_the_records_hold():
    r = record(seed=3, ipc=5, top1=44.0, protocol_student=True)
    r["protocol_id"], r["protocol"] = "0123456789ab", "gone"
    md = leaderboard.render([r], "recs")["moving-shapes-0123456789ab"]
    assert "`recs/0123456789ab/protocol.json` is absent" in md and "seeds 3;" in md
    assert "| IPC 5 |" in md and "44.0 (1)" in md


def test_the_cli_renders_and_checks_a_board_from_protocol_json(tmp_path):
    old_id, body = _old_protocol()
    store = ResultStore(tmp_path / "res")
    store.write_protocol(json.dumps(body, sort_keys=True, separators=(",", ":")))
    for seed in range(2):
        r = record(seed=seed, top1=20.0 + seed)
        r["protocol_id"] = old_id
        path = store.record_path(old_id, "moving-shapes", "random", f"k{seed}", "convnet3d")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(r))
    out = tmp_path / "boards"
    assert cli.main(["leaderboard", "--records", str(store.root), "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"moving-shapes-{old_id}.md", f"moving-shapes-{old_id}.png"]
    assert cli.main(["leaderboard", "--check", "--records", str(store.root), "--out", str(out)]) == 0


def test_the_committed_boards_match_their_records(monkeypatch):
    """``vddbench leaderboard --check`` on the committed leaderboards/, from the repository root as
    ``make run`` renders them (the boards name their records directory)."""
    monkeypatch.chdir(ROOT)
    assert cli.main(["leaderboard", "--check"]) == 0
    assert (ROOT / "leaderboards" / "moving-shapes-376290b0ecf9.md").exists()
