"""mmaction2-style annotation lists, so data already prepared for mmaction2 can be used as is.

mmaction2's ``tools/data/<dataset>`` scripts write two kinds of list, one line per video:

* video lists: ``<path relative to the video folder> <label>``
* rawframe lists: ``<frame folder relative to the rawframe folder> <total frames> <label>``

Each dataset module says which list files and folders its mmaction2 layout uses (``ListLayout``),
and how a list line maps to the protocol's label (UCF101/HMDB51 by class folder, Kinetics/SSv2 by
the label number, which mmaction2 numbers as the official files do).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import DataError
from .manifest import Manifest, VideoEntry, index_files

# (relative path, label number in the list) -> protocol label, or None to leave the video out
LabelOf = Callable[[str, int], "int | None"]


@dataclass(frozen=True)
class ListLayout:
    """One mmaction2 layout: the train/test list files and the folder their paths start from."""

    train: str
    test: str
    folder: str
    rawframes: bool = False
    test_folder: str | None = None  # Kinetics keeps videos_train/ and videos_val/ apart

    def folder_of(self, split: str) -> str:
        return self.test_folder if split == "test" and self.test_folder else self.folder

    def describe(self) -> str:
        return f"{self.train} + {self.test} + {self.folder}/"


def read_list(path: Path, rawframes: bool) -> list[tuple[str, int, int | None]]:
    """``(relative path, label, frames or None)`` per line of an mmaction2 list."""
    rows = []
    want = 3 if rawframes else 2
    for number, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        try:
            if len(parts) < want:
                raise ValueError
            if rawframes:
                rows.append((parts[0], int(parts[2]), int(parts[1])))
            else:
                rows.append((parts[0], int(parts[1]), None))
        except ValueError:
            shape = "<folder> <total frames> <label>" if rawframes else "<path> <label>"
            raise DataError(f"{path}:{number}: expected '{shape}', got '{line.strip()}'; "
                            f"regenerate the list with mmaction2's tools/data scripts") from None
    return rows


def find_layout(root: Path, layouts: tuple[ListLayout, ...]) -> ListLayout | None:
    for layout in layouts:
        if ((root / layout.train).is_file() and (root / layout.test).is_file()
                and (root / layout.folder).is_dir() and (root / layout.folder_of("test")).is_dir()):
            return layout
    return None


def _resolve(folder: Path, relative: str, rawframes: bool) -> Path | None:
    path = folder / relative
    if rawframes:
        return path if path.is_dir() else None
    if path.is_file():
        return path
    if not path.suffix and path.with_suffix(".mp4").is_file():  # mmaction2's DecordInit adds .mp4 too
        return path.with_suffix(".mp4")
    return None


def list_manifest(dataset: str, root: Path, layout: ListLayout, classes: tuple[str, ...],
                  label_of: LabelOf, name: str) -> Manifest:
    """A manifest from an mmaction2 layout; ``label_of`` maps and filters the lines."""
    splits: dict[str, list[VideoEntry]] = {}
    listed: set[str] = set()
    for split, file in (("train", layout.train), ("test", layout.test)):
        folder = root / layout.folder_of(split)
        entries = []
        for relative, number, frames in read_list(root / file, layout.rawframes):
            listed.add(Path(relative).with_suffix("").as_posix())
            label = label_of(relative, number)
            if label is None:
                continue
            if not 0 <= label < len(classes):
                raise DataError(f"{root / file}: label {number} of '{relative}' is outside the "
                                f"{len(classes)} classes of {dataset}; is this the right list?")
            entries.append(VideoEntry(relative, label, _resolve(folder, relative, layout.rawframes), frames))
        splits[split] = entries
    extras = []
    if not layout.rawframes:
        for folder in {root / layout.folder, root / layout.folder_of("test")}:
            for path in index_files([folder]).values():
                if path.relative_to(folder).with_suffix("").as_posix() not in listed:
                    extras.append(path.relative_to(root).as_posix())
    manifest = Manifest(dataset, f"{name} (mmaction2 {'rawframe' if layout.rawframes else 'video'} lists)",
                        root, classes, splits, sorted(extras), rawframes=layout.rawframes)
    if layout.rawframes:
        first = next((e.path for s in splits.values() for e in s if e.path is not None), None)
        if first is not None:
            manifest.filename_tmpl, manifest.start_index = frame_template(first)
    return manifest


def frame_template(folder: Path) -> tuple[str, int]:
    """The file-name template and first index of a rawframe folder (``img_00001.jpg`` -> 1)."""
    import re

    numbered = []
    for path in folder.iterdir():
        match = re.fullmatch(r"(.*?)(\d+)(\.[A-Za-z]+)", path.name)
        if match and not path.name.startswith(("x_", "y_", "flow")):
            numbered.append(match.groups())
    if not numbered:
        raise DataError(f"rawframe folder {folder} holds no numbered frames such as img_00001.jpg; "
                        f"extract the frames again with mmaction2's tools/data scripts")
    prefix, digits, ext = min(numbered, key=lambda g: int(g[1]))
    return f"{prefix}{{:0{len(digits)}d}}{ext}", int(digits)


def first_folder(relative: str) -> str:
    """The class folder of a UCF101/HMDB51 path such as ``ApplyEyeMakeup/v_..._c01.avi``."""
    return Path(relative).parts[0] if len(Path(relative).parts) > 1 else ""


def numbered_list_manifest(spec, root: Path, layouts: tuple[ListLayout, ...], layout_help: str,
                           name: str) -> Manifest:
    """The fallback for datasets whose mmaction2 lists carry class numbers only (K400, SSv2)."""
    from .layouts import not_found

    layout = find_layout(root, layouts)
    if layout is None:
        raise not_found(spec, root, f"neither {layout_help}")
    classes = tuple(str(i) for i in range(spec.num_classes))
    return list_manifest(spec.name, root, layout, classes, lambda _rel, number: number, name)
