"""Tiny datasets written in the real on-disk layouts, with genuine video files (OpenCV).

No real dataset can be downloaded where vddbench is tested, so the loaders are tested on these:
the same folder structure, file names and annotation formats as the official downloads and as
mmaction2's preparation scripts, at a few videos per class. The cache benchmark uses them too.
Each video shows a class-coloured square moving in a class-specific direction.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CODECS = {".avi": "XVID", ".mp4": "mp4v", ".webm": "VP80"}


def _prime_opencv_writer() -> None:
    """decord bundles its own FFmpeg; once it is loaded first, OpenCV can no longer encode VP8
    (.webm) in that process. Opening one OpenCV writer before decord loads avoids it."""
    import cv2

    with tempfile.TemporaryDirectory() as tmp:
        cv2.VideoWriter(str(Path(tmp) / "prime.webm"), cv2.VideoWriter_fourcc(*"VP80"), 25.0, (16, 16)).release()


_PRIMED = False


def write_video(path: Path, label: int, index: int, frames: int = 40, size=(160, 120), fps: float = 25.0) -> Path:
    """A short real video file; codec by extension (.avi XVID, .mp4 mp4v, .webm VP8)."""
    import cv2

    global _PRIMED
    if not _PRIMED and "decord" not in sys.modules:
        _prime_opencv_writer()
        _PRIMED = True
    path.parent.mkdir(parents=True, exist_ok=True)
    width, height = size
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*CODECS[path.suffix]), fps, (width, height))
    if not writer.isOpened():
        if "decord" not in sys.modules:
            raise RuntimeError(f"OpenCV cannot write {path.suffix} videos here")
        args = [str(path), str(label), str(index), str(frames), str(size[0]), str(size[1]), str(fps)]
        subprocess.run([sys.executable, "-c", _WRITE_IN_FRESH_PROCESS, *args], check=True)
        return path
    rng = np.random.default_rng([label, index])
    colour = np.array([(label * 97) % 256, (label * 53 + 80) % 256, (label * 29 + 160) % 256], dtype=np.uint8)
    angle = 2 * np.pi * label / 7
    x, y = rng.uniform(0.3, 0.7) * width, rng.uniform(0.3, 0.7) * height
    background = rng.integers(20, 90, size=3).astype(np.uint8)
    for t in range(frames):
        frame = np.empty((height, width, 3), dtype=np.uint8)
        frame[:] = background
        cx, cy = int(x + 2 * t * np.cos(angle)) % width, int(y + 2 * t * np.sin(angle)) % height
        frame[max(0, cy - 10):cy + 10, max(0, cx - 10):cx + 10] = colour
        writer.write(frame)
    writer.release()
    return path


# a fresh interpreter (no decord loaded) writes the file when this one cannot
_WRITE_IN_FRESH_PROCESS = (
    "import sys, pathlib; from vddbench.testing.datasets import write_video; a = sys.argv[1:]; "
    "write_video(pathlib.Path(a[0]), int(a[1]), int(a[2]), int(a[3]), (int(a[4]), int(a[5])), float(a[6]))")


def write_rawframes(folder: Path, label: int, index: int, frames: int = 40, size=(160, 120),
                    tmpl: str = "img_{:05d}.jpg", start: int = 1) -> Path:
    """A rawframe folder as mmaction2's extraction writes it (``img_00001.jpg`` ...)."""
    import cv2

    video = write_video(folder.with_suffix(".tmp.avi"), label, index, frames, size)
    capture = cv2.VideoCapture(str(video))
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        cv2.imwrite(str(folder / tmpl.format(start + n)), frame)
        n += 1
    capture.release()
    video.unlink()
    return folder


def make_ucf101(root: Path, classes: tuple[str, ...], train: int = 2, test: int = 1,
                other_classes: tuple[str, ...] = ("YoYo",), frames: int = 40) -> Path:
    """``UCF-101/<Class>/v_<Class>_gGG_cCC.avi`` + ``ucfTrainTestlist/`` (split 1; test groups 1-7)."""
    names = sorted(set(classes) | set(other_classes))
    lists = root / "ucfTrainTestlist"
    lists.mkdir(parents=True, exist_ok=True)
    (lists / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(names)))
    train_lines, test_lines = [], []
    for label, name in enumerate(names):
        for i in range(train + test):
            group = 8 + i if i < train else 1 + i - train
            relative = f"{name}/v_{name}_g{group:02d}_c01.avi"
            write_video(root / "UCF-101" / relative, label, i, frames)
            if i < train:
                train_lines.append(f"{relative} {label + 1}\n")
            else:
                test_lines.append(f"{relative}\n")
    (lists / "trainlist01.txt").write_text("".join(train_lines))
    (lists / "testlist01.txt").write_text("".join(test_lines))
    return root


def make_hmdb51(root: Path, classes: tuple[str, ...], train: int = 2, test: int = 1, unused: int = 1,
                frames: int = 40) -> Path:
    """``hmdb51_org/<class>/*.avi`` + ``testTrainMulti_7030_splits/<class>_test_split1.txt`` (1/2/0 ids)."""
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir(parents=True, exist_ok=True)
    for label, name in enumerate(classes):
        lines = []
        for i in range(train + test + unused):
            video = f"Clip_{i}_{name}_f_nm_np1_fr_med_{i}.avi"
            write_video(root / "hmdb51_org" / name / video, label, i, frames)
            lines.append(f"{video} {1 if i < train else 2 if i < train + test else 0} \n")
        for split in (1, 2, 3):
            (splits / f"{name}_test_split{split}.txt").write_text("".join(lines))
    return root


def make_kinetics(root: Path, classes: tuple[str, ...], train: int = 2, test: int = 1,
                  class_folders: bool = True, frames: int = 60) -> Path:
    """``train.csv`` / ``validate.csv`` + ``train/<label>/<id>_<start>_<end>.mp4`` (or flat)."""
    root.mkdir(parents=True, exist_ok=True)
    for split, folder, count in (("train", "train", train), ("validate", "val", test)):
        rows = ["label,youtube_id,time_start,time_end,split,is_cc"]
        for label, name in enumerate(classes):
            for i in range(count):
                youtube_id = f"{split[:2]}{label:03d}{i:05d}x"
                rows.append(f'"{name}",{youtube_id},{10 * i},{10 * i + 10},{split},0')
                stem = f"{youtube_id}_{10 * i:06d}_{10 * i + 10:06d}.mp4"
                write_video(root / folder / (name if class_folders else "") / stem, label, i, frames)
        (root / f"{split}.csv").write_text("\n".join(rows) + "\n")
    return root


def make_ssv2(root: Path, templates: tuple[str, ...], train: int = 2, test: int = 1, frames: int = 30) -> Path:
    """``labels.json`` / ``train.json`` / ``validation.json`` + ``20bn-something-something-v2/<id>.webm``."""
    root.mkdir(parents=True, exist_ok=True)
    labels = {t.replace("[", "").replace("]", ""): str(i) for i, t in enumerate(templates)}
    (root / "labels.json").write_text(json.dumps(labels, indent=1))
    next_id = 1000
    for split, count in (("train", train), ("validation", test)):
        items = []
        for label, template in enumerate(templates):
            for i in range(count):
                items.append({"id": str(next_id), "label": template.replace("[", "").replace("]", "").lower(),
                              "template": template, "placeholders": ["something"]})
                write_video(root / "20bn-something-something-v2" / f"{next_id}.webm", label, i, frames)
                next_id += 1
        (root / f"{split}.json").write_text(json.dumps(items))
    return root


def make_mmaction(root: Path, dataset: str, classes: tuple[str, ...], train: int = 2, test: int = 1,
                  rawframes: bool = False, frames: int = 40) -> Path:
    """mmaction2's prepared layout of ``dataset`` (``ucf101`` or ``hmdb51``): lists + videos/ or rawframes/."""
    kind, folder = ("rawframes", "rawframes") if rawframes else ("videos", "videos")
    lines = {"train": [], "val": []}
    for label, name in enumerate(classes):
        for i in range(train + test):
            stem = f"{name}/v_{name}_g{i + 1:02d}_c01"
            if rawframes:
                write_rawframes(root / folder / stem, label, i, frames)
                line = f"{stem} {frames} {label}\n"
            else:
                write_video(root / folder / f"{stem}.avi", label, i, frames)
                line = f"{stem}.avi {label}\n"
            lines["train" if i < train else "val"].append(line)
    for split, rows in lines.items():
        (root / f"{dataset}_{split}_split_1_{kind}.txt").write_text("".join(rows))
    return root


def truncate(path: Path, keep: float = 0.5) -> Path:
    """Cut a video file short, as an interrupted download leaves it."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def small_protocol(base, num_classes: int, classes: tuple[str, ...] | None = None, epochs: int = 2):
    """A seconds-long protocol over ``base`` (a real ``DatasetSpec``): 8x32x32 clips, IPC 1, one
    seed, ConvNet3D, a few epochs. Same sources, layouts, sampling and cache as the real one."""
    import dataclasses

    from ..protocol import ClipSpec, EvalRecipe, Protocol

    options = dict(base.options)
    if classes is not None:
        options["classes"] = tuple(classes)
    options["resize"] = (40, 32) if tuple(options.get("resize", ())) == (160, 120) else (32, 32)  # keep the crop
    spec = dataclasses.replace(base, num_classes=num_classes, clip=ClipSpec(8, 32, 32), options=tuple(options.items()))
    return Protocol(name=f"test-{base.name}", description=f"tiny generated {base.name} for tests; not a benchmark",
                    datasets=(spec,), ipcs=(1,), seeds=(0,), students=("convnet3d",),
                    recipe=EvalRecipe(epochs=epochs, lr=0.01))


class CrashingDecoder:
    """A decoder factory for tests: kills its process (SIGSEGV) on the videos named ``crash*``, as
    decord does on some corrupt files; decodes every other video to a constant clip."""

    def __init__(self, spec, manifest):
        self.shape = spec.clip.shape

    def __call__(self, entry, train):
        import os
        import signal

        if Path(entry.name).name.startswith("crash"):
            os.kill(os.getpid(), signal.SIGSEGV)
        return np.full(self.shape, 7, dtype=np.uint8)


class SlowDecoder:
    """A decoder factory for tests: says on stderr that it took a video, then spends a second on it
    (long enough to be interrupted), and decodes it to a constant clip."""

    def __init__(self, spec, manifest):
        self.shape = spec.clip.shape

    def __call__(self, entry, train):
        import sys
        import time

        print(f"decoding {entry.name}", file=sys.stderr, flush=True)
        time.sleep(1.0)
        return np.full(self.shape, 7, dtype=np.uint8)
