"""vddbench.read_clip_folder: a user's folder of candidate clips through the decoder and clip cache."""

import numpy as np
import pytest
import torch

import vddbench
from vddbench.data import cache
from vddbench.testing import datasets as fixtures

CLIP = vddbench.ClipSpec(frames=8, height=32, width=32)


@pytest.fixture
def folder(tmp_path, monkeypatch):
    monkeypatch.setenv("VDDBENCH_CACHE", str(tmp_path / "cache"))
    root = tmp_path / "pool"
    for label, name in ((0, "0-circle"), (1, "1-square")):
        for i in range(2):
            fixtures.write_video(root / name / f"gen{i}.avi", label, i, frames=12, size=(64, 64))
    return root


def test_reads_class_folders_at_the_clip_shape_and_reuses_the_cache(folder, monkeypatch):
    pool = vddbench.read_clip_folder(folder, CLIP, num_classes=3)
    assert isinstance(pool, vddbench.VideoSplit) and len(pool) == 4
    assert pool.labels.tolist() == [0, 0, 1, 1]
    assert tuple(pool.raw([0]).shape) == (1, *CLIP.shape) and pool.raw([0]).dtype == torch.uint8
    assert pool.names == ["0-circle/gen0.avi", "0-circle/gen1.avi", "1-square/gen0.avi", "1-square/gen1.avi"]
    assert pool.raw([0]).float().std() > 0  # real pixels, not an empty map

    def no_decoding(*args, **kwargs):
        raise AssertionError("the clip cache should have been reused")

    monkeypatch.setattr(cache, "decode_all", no_decoding)
    again = vddbench.read_clip_folder(folder, CLIP, num_classes=3)
    assert np.array_equal(again.raw(slice(0, 4)).numpy(), pool.raw(slice(0, 4)).numpy())


def test_named_class_folders_are_labelled_in_sorted_order(tmp_path, monkeypatch):
    monkeypatch.setenv("VDDBENCH_CACHE", str(tmp_path / "cache"))
    for label, name in ((0, "Biking"), (1, "Diving")):
        fixtures.write_video(tmp_path / "pool" / name / "a.avi", label, 0, frames=10, size=(64, 64))
    pool = vddbench.read_clip_folder(tmp_path / "pool", CLIP, num_classes=2)
    assert pool.labels.tolist() == [0, 1]


def test_bad_folders_fail_in_one_line(tmp_path, folder):
    with pytest.raises(vddbench.DataError, match="is not a folder"):
        vddbench.read_clip_folder(tmp_path / "missing", CLIP, num_classes=2)
    (tmp_path / "empty").mkdir()
    with pytest.raises(vddbench.DataError, match="no class sub-folders"):
        vddbench.read_clip_folder(tmp_path / "empty", CLIP, num_classes=2)
    with pytest.raises(vddbench.DataError, match=r"outside \[0, 1\)"):
        vddbench.read_clip_folder(folder, CLIP, num_classes=1)


def test_a_daemonic_worker_decodes_in_place(folder, monkeypatch):
    """The local executor's workers are daemonic: multiprocessing forbids them decoder processes."""
    import multiprocessing

    from vddbench.data import parallel

    monkeypatch.setattr(multiprocessing.current_process(), "daemon", True, raising=False)
    monkeypatch.setattr(parallel, "POOL_THRESHOLD", 1)  # a pool would be used for this folder
    seen = []
    real = parallel.decode_workers
    monkeypatch.setattr(parallel, "decode_workers", lambda todo: seen.append(real(todo)) or seen[-1])
    pool = vddbench.read_clip_folder(folder, CLIP, num_classes=2)
    assert len(pool) == 4 and seen == [0]
