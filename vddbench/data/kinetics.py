"""Kinetics-400 from its official annotation CSVs or from mmaction2's lists.

Official layout: the CSVs (``label,youtube_id,time_start,time_end,split[,is_cc]``) and the videos
as the common downloaders save them, flat or in class folders, named
``<youtube_id>_<start:06d>_<end:06d>.<ext>`` (or ``<youtube_id>.<ext>``)::

    ROOT/train.csv, ROOT/validate.csv          (also val.csv, or under ROOT/annotations/)
    ROOT/train/..., ROOT/val/...               (also validate/, videos_train/, videos_val/, ...)

Test = the validation split. Classes are the train CSV's labels in alphabetical order (the order
mmaction2's ``label_map_k400.txt`` uses), so both layouts number classes alike.

mmaction2 layout (``tools/data/kinetics``): ``kinetics400_{train,val}_list_videos.txt`` with
``videos_train/`` and ``videos_val/`` (or the ``rawframes`` equivalents).
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DataError
from .annotations import ListLayout, numbered_list_manifest
from .layouts import RealDataset, first_existing
from .manifest import Manifest, VideoEntry, index_files

if TYPE_CHECKING:
    from ..protocol import DatasetSpec

CSVS = {"train": ("train.csv", "kinetics_400_train.csv", "kinetics400_train.csv", "annotations/train.csv"),
        "test": ("validate.csv", "val.csv", "kinetics_400_validate.csv", "kinetics_400_val.csv",
                 "kinetics400_val.csv", "annotations/val.csv", "annotations/validate.csv")}
VIDEO_DIRS = ("train", "val", "validate", "valid", "videos_train", "videos_val", "train_256", "val_256", "videos")
LIST_LAYOUTS = (
    ListLayout("kinetics400_train_list_videos.txt", "kinetics400_val_list_videos.txt", "videos_train",
               test_folder="videos_val"),
    ListLayout("kinetics400_train_list_rawframes.txt", "kinetics400_val_list_rawframes.txt", "rawframes_train",
               rawframes=True, test_folder="rawframes_val"),
)
LAYOUT_HELP = ("train.csv + validate.csv and train/ + val/ video folders (official Kinetics-400), or "
               "mmaction2's kinetics400_{train,val}_list_videos.txt with videos_train/ + videos_val/")


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and not {"label", "youtube_id", "time_start", "time_end"} <= set(rows[0]):
        raise DataError(f"{path}: expected the columns label,youtube_id,time_start,time_end; got "
                        f"{','.join(rows[0])}; use the official Kinetics-400 annotation CSVs")
    return rows


def _official(spec: DatasetSpec, root: Path, csvs: dict[str, Path]) -> Manifest:
    rows = {split: _rows(path) for split, path in csvs.items()}
    classes = tuple(sorted({r["label"] for r in rows["train"]}))
    index = {name: i for i, name in enumerate(classes)}
    files = index_files([root / d for d in VIDEO_DIRS if (root / d).is_dir()])
    splits, used = {}, set()
    for split, split_rows in rows.items():
        entries = []
        for r in split_rows:
            if r["label"] not in index:
                raise DataError(f"{csvs[split]}: label '{r['label']}' is not a class of {csvs['train'].name}; "
                                f"use the train and validation CSVs of the same Kinetics-400 release")
            stem = f"{r['youtube_id']}_{int(float(r['time_start'])):06d}_{int(float(r['time_end'])):06d}"
            key = stem if stem in files else r["youtube_id"]
            used.add(key)
            entries.append(VideoEntry(stem, index[r["label"]], files.get(key)))
        splits[split] = entries
    extras = sorted(p.relative_to(root).as_posix() for stem, p in files.items() if stem not in used)
    return Manifest(spec.name, "Kinetics-400 (official CSVs)", root, classes, splits, extras)


class Kinetics400Source(RealDataset):
    """Kinetics-400, from the official CSVs or mmaction2's lists."""

    name = "kinetics400"
    title = "Kinetics-400"
    layout_help = LAYOUT_HELP

    def manifest(self, spec: DatasetSpec, root: Path) -> Manifest:
        csvs = {split: first_existing(root, names, want_dir=False) for split, names in CSVS.items()}
        if all(csvs.values()):
            return _official(spec, root, csvs)
        return numbered_list_manifest(spec, root, LIST_LAYOUTS, LAYOUT_HELP, "Kinetics-400")
