"""The protocol's clip sampling and decoding through mmaction2's pipeline."""

import numpy as np
import pytest

from vddbench.data.decode import ClipDecoder, CorruptVideo, frame_indices
from vddbench.data.layouts import manifest_for
from vddbench.protocols import KINETICS400, MINIUCF
from vddbench.testing import datasets as fixtures


def test_gap_sampling_centres_test_clips_and_seeds_train_clips():
    assert frame_indices(100, 25, 16, "gap", False, 0).tolist() == list(range(18, 79, 4))  # (100 - 64) // 2
    a, b = (frame_indices(100, 25, 16, "gap", True, seed) for seed in (1, 1))
    assert np.array_equal(a, b) and np.all(np.diff(a) == 4) and 0 <= a[0] <= 100 - 64
    starts = {int(frame_indices(100, 25, 16, "gap", True, seed)[0]) for seed in range(20)}
    assert len(starts) > 1  # the seed picks the training clip


def test_gap_shrinks_to_len_over_16_and_short_videos_loop():
    assert np.all(np.diff(frame_indices(40, 25, 16, "gap", False, 0)) == 2)  # 40 // 16
    assert frame_indices(10, 25, 16, "gap", False, 0).tolist() == [i % 10 for i in range(16)]


def test_middle_sampling_at_2_fps_around_the_middle_as_vdsd():
    idx = frame_indices(300, 30, 8, "middle", True, 0)  # 10 s at 30 fps: every 15th frame
    assert np.all(np.diff(idx) == 15) and abs((idx[0] + idx[-1] + 15) / 2 - 150) <= 1
    assert np.all(np.diff(frame_indices(60, 30, 8, "middle", False, 0)) == 8)  # 2 s: 4 fps


def test_uniform_sampling_is_vdsds_formula():
    total, n = 20, 8
    step = (total - 1) // (n - 1)
    expected = list(range((total - 1 - (n - 1) * step) // 2, total, step))[:n]
    assert frame_indices(total, 12, n, "uniform", True, 0).tolist() == expected


@pytest.mark.parametrize("spec", [MINIUCF, KINETICS400], ids=lambda s: s.name)
def test_decoder_gives_uint8_clips_of_the_protocols_size(tmp_path, spec):
    fixtures.make_ucf101(tmp_path, ("Biking",), train=1, test=1, other_classes=(), frames=70)
    small = fixtures.small_protocol(MINIUCF, 1, ("Biking",)).datasets[0]
    manifest = manifest_for(small, tmp_path)
    clip = ClipDecoder(spec, manifest)(manifest.present("test")[0], train=False)
    assert clip.dtype == np.uint8 and clip.shape == spec.clip.shape and clip.std() > 0


def test_truncated_and_unreadable_videos_raise_corrupt_video(tmp_path):
    fixtures.make_ucf101(tmp_path, ("Biking",), train=2, test=1, other_classes=(), frames=120)
    spec = fixtures.small_protocol(MINIUCF, 1, ("Biking",)).datasets[0]
    manifest = manifest_for(spec, tmp_path)
    decoder = ClipDecoder(spec, manifest)
    half, garbage = manifest.present("train")
    fixtures.truncate(half.path, 0.5)  # the header still promises 120 frames
    garbage.path.write_bytes(b"not a video at all")
    with pytest.raises(CorruptVideo, match="truncated"):
        decoder(half, train=True)
    with pytest.raises(CorruptVideo):
        decoder(garbage, train=True)
