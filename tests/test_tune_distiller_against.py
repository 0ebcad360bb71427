"""benchmarks/tune_distiller.py --against (a second configuration on the same seeds, paired) and --moved."""

import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import tune_distiller  # noqa: E402


def run(monkeypatch, capsys, *argv) -> str:
    monkeypatch.setattr(sys, "argv", ["tune_distiller.py", *argv])
    tune_distiller.main()
    return capsys.readouterr().out


def test_against_scores_the_second_configuration_as_it_scores_alone(monkeypatch, capsys):
    both = run(monkeypatch, capsys, "dm", '{"iterations": 2}', "--against", '{"iterations": 1}',
               "--seeds", "0", "--no-random")
    first, against = map(float, re.search(r"seed 0: dm ([\d.]+) .*against ([\d.]+)", both).groups())
    alone = run(monkeypatch, capsys, "dm", '{"iterations": 1}', "--seeds", "0", "--no-random")
    assert float(re.search(r"seed 0: dm ([\d.]+)", alone).group(1)) == against
    assert f"minus the configuration against (paired): {first - against:+.1f}" in both


def test_moved_is_zero_where_the_clips_are_randoms_and_not_after_distilling(monkeypatch, capsys):
    out = run(monkeypatch, capsys, "dm", '{"iterations": 1}', "--against", '{"iterations": 0}', "--moved",
              "--seeds", "0", "--no-random")
    moved, moved_against = map(int, re.search(r"moved (\d+)%.*\(moved (\d+)%\)", out).groups())
    assert moved > 0 and moved_against == 0  # dm starts from random's clips; no iteration leaves them there


def test_moved_does_not_depend_on_the_order_of_the_clips():
    import torch

    start = torch.rand(6, 3, 4, 5, 5, generator=torch.Generator().manual_seed(0))
    assert tune_distiller.moved_from(start[torch.randperm(6)], start) == "moved 0%"
    assert tune_distiller.moved_from(start * 1.5, start) == "moved 50%"  # each clip 1.5x its own start
