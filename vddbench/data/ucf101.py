"""UCF101 and MiniUCF from the official layout or from mmaction2's lists.

Official layout (the UCF101 archive and the "recognition task" split archive, unpacked side by
side)::

    ROOT/UCF-101/ApplyEyeMakeup/v_ApplyEyeMakeup_g01_c01.avi ...
    ROOT/ucfTrainTestlist/classInd.txt, trainlist01.txt, testlist01.txt, ...

mmaction2 layout (``tools/data/ucf101``)::

    ROOT/ucf101_train_split_1_videos.txt, ucf101_val_split_1_videos.txt, ROOT/videos/<Class>/...
    ROOT/ucf101_train_split_1_rawframes.txt, ucf101_val_split_1_rawframes.txt, ROOT/rawframes/...

MiniUCF is UCF101 restricted to ``MINIUCF_CLASSES`` (option ``classes``): the rows of the official
split 1 lists whose class is one of them; label = index in that alphabetical list.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DataError
from .annotations import ListLayout, find_layout, first_folder, list_manifest
from .layouts import RealDataset, not_found
from .manifest import Manifest, VideoEntry, index_files

if TYPE_CHECKING:
    from ..protocol import DatasetSpec

MINIUCF_CLASSES = (
    "ApplyEyeMakeup", "BalanceBeam", "BandMarching", "BaseballPitch", "Basketball", "BasketballDunk",
    "Biking", "Billiards", "BlowingCandles", "Bowling", "BreastStroke", "CleanAndJerk", "CliffDiving",
    "CricketShot", "Diving", "FloorGymnastics", "FrisbeeCatch", "GolfSwing", "HammerThrow", "HighJump",
    "HorseRace", "HorseRiding", "HulaHoop", "IceDancing", "JumpingJack", "Knitting", "MilitaryParade",
    "Mixing", "ParallelBars", "PlayingPiano", "PlayingViolin", "PoleVault", "PommelHorse", "Punch",
    "Rafting", "Rowing", "SkateBoarding", "Skiing", "Skijet", "SkyDiving", "SoccerPenalty", "StillRings",
    "SumoWrestling", "Surfing", "Swing", "TennisSwing", "TrampolineJumping", "UnevenBars",
    "VolleyballSpiking", "WritingOnBoard",
)

LAYOUT_HELP = ("UCF-101/ and ucfTrainTestlist/ (official UCF101), or mmaction2's "
               "ucf101_{train,val}_split_1_{videos,rawframes}.txt with videos/ or rawframes/")


def _list_layouts(split: int) -> tuple[ListLayout, ...]:
    return (ListLayout(f"ucf101_train_split_{split}_videos.txt", f"ucf101_val_split_{split}_videos.txt", "videos"),
            ListLayout(f"ucf101_train_split_{split}_rawframes.txt", f"ucf101_val_split_{split}_rawframes.txt",
                       "rawframes", rawframes=True))


def _read_official(path: Path) -> list[str]:
    if not path.is_file():
        raise DataError(f"UCF101 split file {path} is missing; unpack UCF101TrainTestSplits-RecognitionTask.zip "
                        f"next to UCF-101/")
    return [line.split()[0] for line in path.read_text().splitlines() if line.strip()]


def _official(spec: DatasetSpec, root: Path, classes: tuple[str, ...] | None, split: int) -> Manifest:
    videos, lists = root / "UCF-101", root / "ucfTrainTestlist"
    if classes is None:  # all of UCF101, in classInd.txt's order
        if not (lists / "classInd.txt").is_file():
            raise DataError(f"{lists / 'classInd.txt'} is missing; unpack the UCF101 split archive again")
        classes = tuple(line.split()[1] for line in (lists / "classInd.txt").read_text().splitlines() if line.strip())
    index = {name: i for i, name in enumerate(classes)}
    splits, listed = {}, set()
    for name, file in (("train", f"trainlist0{split}.txt"), ("test", f"testlist0{split}.txt")):
        entries = []
        for relative in _read_official(lists / file):
            listed.add(relative)
            label = index.get(first_folder(relative))
            if label is not None:
                path = videos / relative
                entries.append(VideoEntry(relative, label, path if path.is_file() else None))
        splits[name] = entries
    folders = [videos / c for c in classes if (videos / c).is_dir()]
    extras = sorted(p.relative_to(root).as_posix() for p in index_files(folders).values()
                    if p.relative_to(videos).as_posix() not in listed)
    return Manifest(spec.name, "UCF101 (official)", root, classes, splits, extras)


class UCF101Source(RealDataset):
    """UCF101 and MiniUCF, in the official layout or mmaction2's."""

    name = "ucf101"
    title = "UCF101 (MiniUCF: a class subset)"
    layout_help = LAYOUT_HELP

    def manifest(self, spec: DatasetSpec, root: Path) -> Manifest:
        classes = spec.option("classes")
        split = spec.option("split", 1)
        if (root / "UCF-101").is_dir() and (root / "ucfTrainTestlist").is_dir():
            return _official(spec, root, classes, split)
        layout = find_layout(root, _list_layouts(split))
        if layout is None:
            raise not_found(spec, root, f"neither {LAYOUT_HELP}")
        if classes is None:  # mmaction2 numbers UCF101's classes as classInd.txt does: alphabetically
            from .annotations import read_list

            rows = read_list(root / layout.train, layout.rawframes)
            classes = tuple(sorted({first_folder(r) for r, _, _ in rows}))
        index = {name: i for i, name in enumerate(classes)}
        return list_manifest(spec.name, root, layout, classes, lambda rel, _n: index.get(first_folder(rel)), "UCF101")
