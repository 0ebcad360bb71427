"""OptDistill's defining behaviour: regions on frame 0, CSRT tracks that follow the object, crops that
contain it in every frame, top-K by classifier confidence, N x N tiles with a soft label each.

The embedded clips (16 px) leave 8 px tiles, so the faithful configuration (OpenCV's default CSRT,
every clip tracked) is shown here on generated 64 px clips with known object paths."""

import textwrap

import numpy as np
import pytest
import torch

import vddbench
from vddbench_optdistill import OptDistill
from vddbench_optdistill.regions import motion_proposals
from vddbench_optdistill.track import crop_window, cropped_video, csrt_tracker, track

SIZE, FRAMES, RADIUS = 64, 8, 7.0
COLOURS = ((240, 60, 40), (40, 90, 250))  # class 0: red disc moving right; class 1: blue disc moving down


def scene(label, seed, colour=None, size=SIZE, frames=FRAMES):
    """uint8 (T, H, W, 3) RGB: a disc on a textured background with static clutter; its centres."""
    rng = np.random.default_rng([label, seed])
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    coarse = rng.normal(0, 14, (size // 8 + 1, size // 8 + 1, 3))
    background = rng.uniform(60, 120, 3) + np.repeat(np.repeat(coarse, 8, 0), 8, 1)[:size, :size]
    for _ in range(3):  # static clutter: never proposed, must not distract the tracker
        cx, cy = rng.uniform(8, size - 8, 2)
        background[np.hypot(xx - cx, yy - cy) < 4] = rng.uniform(80, 200, 3)
    direction = np.array([1.0, 0.0]) if label == 0 else np.array([0.0, 1.0])
    start = rng.uniform(14, 22, 2)
    speed = rng.uniform(3.0, 4.0)
    colour = np.array(COLOURS[label] if colour is None else colour, dtype=np.float64)
    video, centres = [], []
    for t in range(frames):
        c = start + direction * speed * t
        frame = background.copy()
        frame[np.hypot(xx - c[0], yy - c[1]) < RADIUS] = colour
        frame += rng.normal(0, 4, frame.shape)
        video.append(np.clip(frame, 0, 255).astype(np.uint8))
        centres.append(c)
    return np.stack(video), np.array(centres)


pytestmark = pytest.mark.usefixtures("vddbench_one_thread")  # as the harness runs a cell


def test_opencv_has_the_csrt_tracker():
    import cv2

    assert hasattr(cv2, "TrackerCSRT") or hasattr(cv2, "TrackerCSRT_create")
    assert csrt_tracker() is not None and csrt_tracker({"template_size": 16}) is not None


def test_motion_proposals_find_the_moving_object_on_the_first_frame_and_ignore_clutter():
    for seed in range(3):
        frames, centres = scene(0, seed)
        boxes = motion_proposals(frames)
        assert len(boxes) == 1
        x, y, w, h = boxes[0]
        assert abs(x + w / 2 - centres[0][0]) < 2 and abs(y + h / 2 - centres[0][1]) < 2
        assert abs(w - 2 * RADIUS) <= 3 and abs(h - 2 * RADIUS) <= 3


@pytest.mark.parametrize("label", [0, 1])
def test_the_tracker_follows_a_generated_object_and_its_crops_contain_it_in_every_frame(label):
    frames, centres = scene(label, seed=7)
    box = motion_proposals(frames)[0]
    path, lost = track(np.ascontiguousarray(frames[..., ::-1]), box)  # OpenCV's default CSRT
    assert lost == 0 and len(path) == FRAMES
    tile = (SIZE // 2, SIZE // 2)
    for (x, y, w, h), c in zip(path, centres):
        assert np.hypot(x + w / 2 - c[0], y + h / 2 - c[1]) < RADIUS / 2  # on the object's known path
        cx, cy, cw, ch = crop_window((x, y, w, h), aspect=1.0, min_width=tile[0])
        assert cw == pytest.approx(ch)  # the clip's aspect ratio
        assert cx - cw / 2 <= c[0] - RADIUS and c[0] + RADIUS <= cx + cw / 2  # the whole disc is inside
        assert cy - ch / 2 <= c[1] - RADIUS and c[1] + RADIUS <= cy + ch / 2
    crops = cropped_video(frames, path, tile, min_width=tile[0])
    assert crops.shape == (FRAMES, tile[1], tile[0], 3)
    colour = np.array(COLOURS[label])
    for t, (crop, (x, y, w, h)) in enumerate(zip(crops, path)):
        on_disc = np.abs(crop.astype(int) - colour).sum(-1) < 40
        scale = tile[0] / crop_window((x, y, w, h), 1.0, tile[0])[2]
        assert on_disc.sum() >= 0.8 * np.pi * (RADIUS * scale) ** 2, f"frame {t}: the object left the crop"


@pytest.fixture
def colour_classifier(tmp_path, monkeypatch):
    """A user scorer as 'module:callable': logits from how close the clip's most saturated colour is
    to each class colour (a stand-in for a pretrained video classifier)."""
    (tmp_path / "toy_classifier.py").write_text(textwrap.dedent(f"""
        import torch
        import vddbench

        COLOURS = torch.tensor({[list(c) for c in COLOURS]}, dtype=torch.float32) / 255

        def classify(videos):
            rgb = vddbench.denormalize(videos).clamp(0, 1)            # (n, 3, T, H, W)
            saturation = rgb.amax(1) - rgb.amin(1)                      # (n, T, H, W)
            weights = torch.softmax(30 * saturation.flatten(1), 1)
            colour = (rgb.flatten(2) * weights[:, None]).sum(2)         # (n, 3)
            return -40 * torch.cdist(colour, COLOURS)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "toy_classifier:classify"


def large_task(ipc=1):
    """Two classes of 64 px clips, 4 clean clips each plus one decoy (a disc of a colour as far from
    both class colours, which the classifier is unsure of)."""
    clips, labels = [], []
    for label in range(2):
        for seed in range(4):
            clips.append(scene(label, seed)[0])
            labels.append(label)
        clips.append(scene(label, 99, colour=(140, 215, 125))[0])
        labels.append(label)
    clips = np.stack(clips).transpose(0, 4, 1, 2, 3).copy()  # (n, 3, T, H, W)
    split = vddbench.ArraySplit("large/train", clips, np.array(labels), 2)
    clip = vddbench.ClipSpec(FRAMES, SIZE, SIZE)
    return vddbench.DistillTask(train=split, num_classes=2, ipc=ipc, seed=0, clip=clip, dataset="large")


def test_faithful_on_a_larger_clip_top_k_crops_tiled_with_a_soft_label_each(colour_classifier):
    task = large_task(ipc=1)
    distiller = OptDistill(scorer=colour_classifier, labeler="scorer", top_k=4)  # OpenCV's default CSRT
    assert not distiller.tags.needs_teacher
    artifact = distiller.distill(task)
    videos, tile_labels = artifact.tensors["videos_uint8"], artifact.tensors["tile_labels"]
    assert videos.shape == (2, 3, FRAMES, SIZE, SIZE) and tile_labels.shape == (2, 4, 2)
    assert artifact.tensors["classes"].tolist() == [0, 1]
    assert artifact.metadata["tiles"] == "2x2 tiles of 32x32 px"
    assert artifact.metadata["tracker"] == "OpenCV CSRT (OpenCV's defaults)"
    half = SIZE // 2
    for v, label in enumerate((0, 1)):
        colour = torch.tensor(COLOURS[label]).view(3, 1, 1, 1)
        decoy = torch.tensor((140, 215, 125)).view(3, 1, 1, 1)
        for r in range(2):
            for c in range(2):
                tile = videos[v, :, :, r * half:(r + 1) * half, c * half:(c + 1) * half].int()
                on_disc = ((tile - colour).abs().sum(0) < 40).flatten(1).sum(1)  # per frame
                assert (on_disc > 50).all(), "every tile shows its class's object in every frame"
                assert ((tile - decoy).abs().sum(0) < 40).sum() < 20, "the decoy is not among the top-K"
        assert (tile_labels[v].argmax(1) == label).all()  # one soft label per tile
    data = distiller.expand(artifact)
    assert data.soft and torch.allclose(data.labels, tile_labels.mean(1))  # Eq. 5 for a whole-video student
    assert data.classes.tolist() == [0, 1]


def test_stand_ins_are_recorded_and_soft_labels_come_from_the_teacher(vddbench_task):
    task = vddbench_task(ipc=2)
    distiller = OptDistill(**OptDistill.defaults_for("smoke"))
    artifact = distiller.distill(task)
    meta = artifact.metadata
    assert meta["detector"] == "motion proposals (frame differences), the stand-in for YOLOv5"
    assert meta["scorer"].startswith("protocol teacher (convnet3d") and "R3D-18" in meta["scorer"]
    assert meta["labeler"].startswith("protocol teacher (convnet3d")
    assert meta["tiles"] == "2x2 tiles of 8x8 px"
    data = distiller.expand(artifact)
    assert data.labels.shape == (2 * task.num_classes, task.num_classes)
    assert torch.allclose(data.labels.sum(1), torch.ones(len(data.labels)))
    assert data.classes.tolist() == [c for c in range(task.num_classes) for _ in range(2)]
    onehot = OptDistill(**{**OptDistill.defaults_for("smoke"), "labeler": "onehot"}).distill(task)
    assert torch.equal(onehot.tensors["tile_labels"].argmax(2),
                       onehot.tensors["classes"][:, None].expand(-1, 4))


def test_bad_hyper_parameters_fail_with_a_message(vddbench_task):
    task = vddbench_task(ipc=1)
    with pytest.raises(vddbench.DistillerError, match="labeler should be"):
        OptDistill(labeler="nobody")  # refused when built; the tiling needs the clip size
    with pytest.raises(vddbench.DistillerError, match="cannot tile 30 x 30"):
        OptDistill(grid=30).distill(task)
    with pytest.raises(ValueError, match="CSRT has no parameter 'speed'"):
        OptDistill(videos_per_class=1, csrt={"speed": 2}).distill(task)
