"""The clip cache: decoded once into a memory map, reused, resumable, corrupt videos skipped."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from vddbench import worker_processes
from vddbench.data import cache, parallel
from vddbench.data.decode import ClipDecoder
from vddbench.data.layouts import manifest_for
from vddbench.data.manifest import VideoEntry
from vddbench.protocols import MINIUCF
from vddbench.testing import datasets as fixtures

CLASSES = ("Biking", "Diving")


@pytest.fixture
def dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("VDDBENCH_CACHE", str(tmp_path / "cache"))
    root = fixtures.make_ucf101(tmp_path / "data", CLASSES, train=3, test=1, other_classes=())
    spec = fixtures.small_protocol(MINIUCF, 2, CLASSES).datasets[0]
    return spec, root


def test_split_is_decoded_once_into_a_read_only_memory_map(dataset, monkeypatch):
    spec, root = dataset
    manifest = manifest_for(spec, root)
    train = cache.load(spec, manifest, "train", progress=False)
    assert isinstance(train._clips, np.memmap) and train._clips.mode == "r"
    assert len(train) == 6 and train.labels.tolist() == [0, 0, 0, 1, 1, 1]
    decoder = ClipDecoder(spec, manifest)
    assert np.array_equal(train.raw([4])[0].numpy(), decoder(manifest.present("train")[4], train=True))
    assert train.coverage["train"]["fraction"] == 1.0 and train.coverage["train"]["undecodable"] == 0

    def no_decoding(*args, **kwargs):
        raise AssertionError("the cache should have been reused")

    monkeypatch.setattr(cache, "decode_all", no_decoding)
    again = cache.load(spec, manifest_for(spec, root), "train", progress=False)
    assert np.array_equal(again.raw(slice(0, 6)).numpy(), train.raw(slice(0, 6)).numpy())


def test_an_interrupted_build_resumes_where_it_stopped(dataset, monkeypatch):
    spec, root = dataset
    manifest = manifest_for(spec, root)
    monkeypatch.setattr(cache, "FLUSH_SECONDS", 0.0)
    real, seen = parallel.decode_all, []

    def interrupted(spec, manifest, entries, indices, *args, **kwargs):
        for n, result in enumerate(real(spec, manifest, entries, indices, *args, **kwargs)):
            if n == 4:
                raise KeyboardInterrupt
            seen.append(result[0])
            yield result

    monkeypatch.setattr(cache, "decode_all", interrupted)
    with pytest.raises(KeyboardInterrupt):
        cache.load(spec, manifest, "train", progress=False)
    assert not (cache.cache_dir(spec, manifest, "train") / "meta.json").exists()
    seen.clear()
    monkeypatch.setattr(cache, "decode_all", real)

    def counting(spec, manifest, entries, indices, *args, **kwargs):
        seen.extend(indices)
        return real(spec, manifest, entries, indices, *args, **kwargs)

    monkeypatch.setattr(cache, "decode_all", counting)
    train = cache.load(spec, manifest, "train", progress=False)
    assert seen == [4, 5] and len(train) == 6
    decoder = ClipDecoder(spec, manifest)
    assert all(np.array_equal(train.raw([i])[0].numpy(), decoder(e, True))
               for i, e in enumerate(manifest.present("train")))


def test_corrupt_videos_are_skipped_and_the_rest_compacted(dataset):
    spec, root = dataset
    fixtures.truncate(root / "UCF-101/Biking/v_Biking_g09_c01.avi", 0.3)
    manifest = manifest_for(spec, root)
    train = cache.load(spec, manifest, "train", progress=False)
    assert len(train) == 5 and "Biking/v_Biking_g09_c01.avi" not in train.names
    assert train.coverage["train"]["undecodable"] == 1 and train.coverage["train"]["fraction"] == pytest.approx(5 / 6)
    decoder = ClipDecoder(spec, manifest)
    by_name = {e.name: e for e in manifest.present("train")}
    for i, name in enumerate(train.names):
        assert np.array_equal(train.raw([i])[0].numpy(), decoder(by_name[name], True))
    meta = json.loads((cache.cache_dir(spec, manifest, "train") / "meta.json").read_text())
    assert list(meta["failures"]) == ["Biking/v_Biking_g09_c01.avi"]


def test_another_copy_of_the_data_is_another_cache(dataset):
    spec, root = dataset
    before = cache.cache_dir(spec, manifest_for(spec, root), "test")
    fixtures.write_video(root / "UCF-101/Diving/v_Diving_g01_c01.avi", 1, 5, frames=50)  # replaced file
    assert cache.cache_dir(spec, manifest_for(spec, root), "test") != before


def test_a_video_that_crashes_the_decoder_is_reported_and_the_rest_go_on(dataset, monkeypatch):
    spec, root = dataset
    monkeypatch.setenv("VDDBENCH_DECODE_WORKERS", "1")
    manifest = manifest_for(spec, root)
    entries = [VideoEntry(name, 0, root) for name in ("a.avi", "crash.avi", "b.avi")]
    results = sorted(parallel.decode_all(spec, manifest, entries, [0, 1, 2], True, progress=False,
                                         factory=fixtures.CrashingDecoder), key=lambda r: r[0])
    assert [r[1] is not None for r in results] == [True, False, True]
    assert "crashed" in results[1][2]


def test_a_ctrl_c_at_the_end_of_a_workers_start_still_stops_that_worker(dataset, monkeypatch):
    """start_worker re-raises a held Ctrl-C once the process runs: the pool must already list it."""
    spec, root = dataset
    monkeypatch.setenv("VDDBENCH_DECODE_WORKERS", "2")
    manifest = manifest_for(spec, root)
    entries = manifest.present("train")
    started = []

    def start_then_interrupt(process):
        real_start(process)
        started.append(process)
        if len(started) == 2:
            raise KeyboardInterrupt

    real_start = worker_processes.start_worker
    monkeypatch.setattr(worker_processes, "start_worker", start_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        list(parallel.decode_all(spec, manifest, entries, list(range(len(entries))), True, progress=False))
    assert len(started) == 2 and not any(p.is_alive() for p in started)


DECODE_SCRIPT = """
import sys
from vddbench.data import parallel
from vddbench.data.layouts import manifest_for
from vddbench.protocols import MINIUCF
from vddbench.testing import datasets as fixtures
spec = fixtures.small_protocol(MINIUCF, 2, tuple(sys.argv[2:])).datasets[0]
manifest = manifest_for(spec, sys.argv[1])
entries = manifest.present("train")
try:
    for _ in parallel.decode_all(spec, manifest, entries, list(range(len(entries))), True, progress=False,
                                 factory=fixtures.SlowDecoder):
        pass
except KeyboardInterrupt:
    sys.exit(130)
"""


def test_ctrl_c_while_decoding_in_workers_stops_them_without_a_traceback(dataset, tmp_path):
    """Ctrl-C reaches the whole process group; the decoding workers leave it to their parent."""
    spec, root = dataset
    env = dict(os.environ, VDDBENCH_DECODE_WORKERS="2")
    with open(tmp_path / "stderr", "w") as err:
        proc = subprocess.Popen([sys.executable, "-c", DECODE_SCRIPT, str(root), *CLASSES], stderr=err, env=env,
                                start_new_session=True)
        deadline = time.time() + 60
        while proc.poll() is None and time.time() < deadline and "decoding" not in (tmp_path / "stderr").read_text():
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(30)
    stderr = (tmp_path / "stderr").read_text()
    assert code == 130 and "Traceback" not in stderr, stderr
