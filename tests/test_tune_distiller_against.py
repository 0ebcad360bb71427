"""benchmarks/tune_distiller.py --against: a second configuration on the same seeds, paired."""

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
