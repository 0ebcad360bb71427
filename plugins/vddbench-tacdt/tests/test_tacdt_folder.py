"""End to end through the harness with a user-supplied folder of candidate clips."""

import cv2
import numpy as np

import vddbench
from vddbench_tacdt import TACDT


def write_clip(path, colour, shift, frames=10, size=64):
    """A short .avi of a square of ``colour`` moving right by ``shift`` pixels a frame."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"XVID"), 25.0, (size, size))
    for t in range(frames):
        frame = np.full((size, size, 3), 40, np.uint8)
        x = 8 + shift * t
        frame[24:40, x:x + 16] = colour[::-1]  # OpenCV writes BGR
        writer.write(frame)
    writer.release()


def test_tacdt_runs_end_to_end_on_a_folder_of_candidate_clips(tmp_path, monkeypatch, vddbench_register, vddbench_run,
                                                              vddbench_task):
    monkeypatch.setenv("VDDBENCH_CACHE", str(tmp_path / "cache"))
    folder = tmp_path / "generated"
    spec = vddbench.get_protocol("smoke").datasets[0]
    for label in range(spec.num_classes):
        colour = np.array([(label * 97) % 256, (label * 53 + 80) % 256, (label * 29 + 160) % 256], np.uint8)
        for i in range(3):
            write_clip(folder / f"{label:02d}" / f"sample{i}.avi", colour, shift=1 + i)

    class FolderTACDT(TACDT):
        name = "tac-dt-folder"

        def __init__(self, candidates: str = str(folder), candidates_per_class: int | None = 100,
                     embedder: str = "teacher", pca_components: float = 0.95, birch_threshold: float = 0.25,
                     branching_factor: int = 50):
            super().__init__(candidates, candidates_per_class, embedder, pca_components, birch_threshold,
                             branching_factor)

    vddbench_register(FolderTACDT)
    records = vddbench_run("tac-dt-folder", ipc=1)
    assert [r["status"] for r in records] == ["ok"]
    assert records[0]["num_videos"] == spec.num_classes
    # what was stored are the folder's clips, decoded at the protocol's clip size
    pool = vddbench.read_clip_folder(folder, spec.clip, spec.num_classes)
    artifact = FolderTACDT().distill(vddbench_task(ipc=1))  # the folder replaces the training split
    stored = artifact.tensors["videos_uint8"]
    everything = pool.raw(slice(0, len(pool)))
    assert all((everything == clip).flatten(1).all(1).any() for clip in stored)
    assert artifact.metadata["candidates"].startswith(f"folder {folder.resolve()} (30 clips)")

