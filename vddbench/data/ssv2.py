"""Something-Something v2 from its official JSON files or from mmaction2's lists.

Official layout (the label archive and the video parts, unpacked)::

    ROOT/labels.json, train.json, validation.json [, test.json]   (also under ROOT/labels/, or
                                                                    named something-something-v2-*.json)
    ROOT/20bn-something-something-v2/<id>.webm                      (also ROOT/videos/ or ROOT/)

A video's class is its ``template`` with the brackets removed, looked up in ``labels.json``
(``{"Approaching something with your camera": "0", ...}``), case-insensitively as VDSD does.
Test = the validation split. mmaction2 layout (``tools/data/sthv2``): ``sthv2_{train,val}_list_videos.txt``
with ``videos/`` (or the ``rawframes`` equivalents); mmaction2 numbers classes as labels.json does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DataError
from .annotations import ListLayout, numbered_list_manifest
from .layouts import RealDataset, first_existing
from .manifest import Manifest, VideoEntry, index_files

if TYPE_CHECKING:
    from ..protocol import DatasetSpec


def _names(stem: str) -> tuple[str, ...]:
    return (f"{stem}.json", f"labels/{stem}.json", f"something-something-v2-{stem}.json",
            f"labels/something-something-v2-{stem}.json")


VIDEO_DIRS = ("20bn-something-something-v2", "videos", "")
LIST_LAYOUTS = (
    ListLayout("sthv2_train_list_videos.txt", "sthv2_val_list_videos.txt", "videos"),
    ListLayout("sthv2_train_list_rawframes.txt", "sthv2_val_list_rawframes.txt", "rawframes", rawframes=True),
)
LAYOUT_HELP = ("labels.json + train.json + validation.json and 20bn-something-something-v2/ (official SSv2), "
               "or mmaction2's sthv2_{train,val}_list_videos.txt with videos/")


def _load(path: Path):
    try:
        return json.loads(path.read_text())
    except ValueError as exc:
        raise DataError(f"{path} is not valid JSON ({exc}); download the SSv2 label archive again") from None


def _official(spec: DatasetSpec, root: Path, files: dict[str, Path]) -> Manifest:
    labels = {name.lower(): int(i) for name, i in _load(files["labels"]).items()}
    classes = tuple(name for name, _ in sorted(labels.items(), key=lambda kv: kv[1]))
    folder = next(root / d for d in VIDEO_DIRS if (root / d).is_dir())
    videos = index_files([folder])
    splits, listed = {}, set()
    for split in ("train", "test"):
        entries = []
        for item in _load(files[split]):
            template = item["template"].replace("[", "").replace("]", "").lower()
            if template not in labels:
                raise DataError(f"{files[split]}: template '{item['template']}' of video {item['id']} is not in "
                                f"{files['labels'].name}; use label and split files of the same SSv2 release")
            listed.add(str(item["id"]))
            entries.append(VideoEntry(str(item["id"]), labels[template], videos.get(str(item["id"]))))
        splits[split] = entries
    if "unlabelled" in files:  # the test videos sit in the same folder; they are not extras
        listed.update(str(item["id"]) for item in _load(files["unlabelled"]))
    extras = sorted(p.relative_to(root).as_posix() for stem, p in videos.items() if stem not in listed)
    return Manifest(spec.name, "SSv2 (official JSON)", root, classes, splits, extras)


class SSV2Source(RealDataset):
    """Something-Something v2, from the official JSON files or mmaction2's lists."""

    name = "ssv2"
    title = "Something-Something v2"
    layout_help = LAYOUT_HELP

    def manifest(self, spec: DatasetSpec, root: Path) -> Manifest:
        files = {"labels": first_existing(root, _names("labels"), want_dir=False),
                 "train": first_existing(root, _names("train"), want_dir=False),
                 "test": first_existing(root, _names("validation"), want_dir=False)}
        if all(files.values()):
            unlabelled = first_existing(root, _names("test"), want_dir=False)
            if unlabelled:
                files["unlabelled"] = unlabelled
            return _official(spec, root, files)
        return numbered_list_manifest(spec, root, LIST_LAYOUTS, LAYOUT_HELP, "SSv2")
