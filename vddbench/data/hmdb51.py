"""HMDB51 from the official layout or from mmaction2's lists.

Official layout (``hmdb51_org.rar`` with each class archive unpacked, and the split archive)::

    ROOT/hmdb51_org/brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_0.avi ...   (or ROOT/<class>/)
    ROOT/testTrainMulti_7030_splits/brush_hair_test_split1.txt ...

Each split file line is ``<video> <id>``: 1 = train, 2 = test, 0 = unused. The protocol's split 1:
test = the id-2 videos; train = every other video of the 51 classes, the unused ones included.
Classes are the split files' class names in alphabetical order.

mmaction2 layout (``tools/data/hmdb51``): ``hmdb51_{train,val}_split_1_{videos,rawframes}.txt``
with ``videos/`` or ``rawframes/``. mmaction2's train list leaves the unused videos out, so train
is every video in the class folders that is not in the test list.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .annotations import ListLayout, find_layout, first_folder, list_manifest
from .layouts import RealDataset, not_found
from .manifest import Manifest, VideoEntry, index_files

if TYPE_CHECKING:
    from ..protocol import DatasetSpec

SPLIT_DIR = "testTrainMulti_7030_splits"
VIDEO_DIRS = ("hmdb51_org", "hmdb51", "videos", "")
LAYOUT_HELP = (f"{SPLIT_DIR}/ and the class folders (official HMDB51), or mmaction2's "
               f"hmdb51_{{train,val}}_split_1_{{videos,rawframes}}.txt with videos/ or rawframes/")


def _list_layouts(split: int) -> tuple[ListLayout, ...]:
    return (ListLayout(f"hmdb51_train_split_{split}_videos.txt", f"hmdb51_val_split_{split}_videos.txt", "videos"),
            ListLayout(f"hmdb51_train_split_{split}_rawframes.txt", f"hmdb51_val_split_{split}_rawframes.txt",
                       "rawframes", rawframes=True))


def _official(spec: DatasetSpec, root: Path, split: int) -> Manifest:
    suffix = f"_test_split{split}.txt"
    files = sorted((root / SPLIT_DIR).glob(f"*{suffix}"))
    classes = spec.option("classes") or tuple(f.name[: -len(suffix)] for f in files)
    videos = next((root / d for d in VIDEO_DIRS if classes and (root / d / classes[0]).is_dir()), None)
    if videos is None:
        raise not_found(spec, root, f"{SPLIT_DIR}/ but no class folders such as {classes[0] if classes else '?'}/ "
                        f"(looked in {', '.join(d or '.' for d in VIDEO_DIRS)})")
    splits: dict[str, list[VideoEntry]] = {"train": [], "test": []}
    listed = set()
    for label, name in enumerate(classes):
        for line in (root / SPLIT_DIR / f"{name}{suffix}").read_text().splitlines():
            parts = line.split()
            if len(parts) < 2:
                continue
            relative = f"{name}/{parts[0]}"
            listed.add(relative)
            path = videos / relative
            splits["test" if parts[1] == "2" else "train"].append(
                VideoEntry(relative, label, path if path.is_file() else None))
    folders = [videos / c for c in classes if (videos / c).is_dir()]
    extras = sorted(p.relative_to(root).as_posix() for p in index_files(folders).values()
                    if p.relative_to(videos).as_posix() not in listed)
    return Manifest(spec.name, "HMDB51 (official)", root, classes, splits, extras)


def _add_unlisted_train(manifest: Manifest, folder: Path) -> None:
    """mmaction2's train list omits split 1's unused videos; the protocol trains on them too."""
    listed = {Path(e.name).with_suffix("").as_posix() for s in manifest.splits.values() for e in s}
    index = {name: i for i, name in enumerate(manifest.classes)}
    for label_name, label in index.items():
        class_dir = folder / label_name
        if not class_dir.is_dir():
            continue
        for path in sorted(class_dir.iterdir()):
            relative = path.relative_to(folder).as_posix()
            if Path(relative).with_suffix("").as_posix() in listed:
                continue
            if manifest.rawframes and path.is_dir():
                frames = sum(1 for _ in path.iterdir())
                manifest.splits["train"].append(VideoEntry(relative, label, path, frames))
            elif not manifest.rawframes and path.is_file() and not path.name.startswith("."):
                manifest.splits["train"].append(VideoEntry(relative, label, path))
    if not manifest.rawframes:  # the videos added to train are no longer extras
        added = {(folder / e.name).relative_to(manifest.root).as_posix() for e in manifest.splits["train"]}
        manifest.extras = [x for x in manifest.extras if x not in added]


class HMDB51Source(RealDataset):
    """HMDB51, in the official layout or mmaction2's."""

    name = "hmdb51"
    title = "HMDB51"
    layout_help = LAYOUT_HELP

    def manifest(self, spec: DatasetSpec, root: Path) -> Manifest:
        split = spec.option("split", 1)
        if (root / SPLIT_DIR).is_dir():
            return _official(spec, root, split)
        layout = find_layout(root, _list_layouts(split))
        if layout is None:
            raise not_found(spec, root, f"neither {LAYOUT_HELP}")
        classes = spec.option("classes")
        if classes is None:
            from .annotations import read_list

            rows = read_list(root / layout.test, layout.rawframes)
            classes = tuple(sorted({first_folder(r) for r, _, _ in rows}))
        index = {name: i for i, name in enumerate(classes)}
        result = list_manifest(spec.name, root, layout, classes, lambda rel, _n: index.get(first_folder(rel)), "HMDB51")
        _add_unlisted_train(result, root / layout.folder)
        return result
