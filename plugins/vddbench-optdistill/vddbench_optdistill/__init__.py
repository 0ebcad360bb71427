"""OptDistill (papers 000/002, section 5.1), a vddbench distiller.

For each candidate clip: regions on the first frame (3 boxes at most, drawn at random), each
tracked through the clip with OpenCV's CSRT tracker; around each track an aspect-preserving crop,
scaled to a tile of ``W/N x H/N``; each cropped clip scored by a video classifier (the confidence of
its top-1 label). Per class the TOP_K crops by score are kept, and each distilled video tiles
``N x N`` of them. Every tile has its own soft label (Eq. 5). Stored: the tiled videos as uint8 and
the per-tile soft labels.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

import vddbench
from vddbench import candidate_pool, user_model
from vddbench import model_name as teacher_name

from .regions import motion_proposals
from .track import cropped_video, track

# OpenCV's CSRT defaults resample every template to 200 px and search 33 scales: 80-140 ms of CPU per
# 8-frame track of a 24 px clip. The embedded protocol's budget needs ~20 ms (see README).
FAST_CSRT = {"template_size": 16, "number_of_scales": 9, "use_segmentation": False,
             "use_color_names": False, "scale_model_max_area": 64}


class OptDistill(vddbench.Distiller):
    """OptDistill: track regions (CSRT), crop, score with a video classifier, keep the top-K per class
    and tile N x N crops into each video, one soft label per tile (002 §5.1)."""

    name = "optdistill"
    tags = vddbench.DistillerTags(needs_teacher=True, soft_labels=True)
    protocol_defaults = {
        "embedded": {"videos_per_class": 10, "csrt": FAST_CSRT},
        "smoke": {"videos_per_class": 3, "csrt": FAST_CSRT},
    }

    def __init__(self, candidates: str = "train", videos_per_class: int | None = None, boxes_per_video: int = 3,
                 grid: int = 2, top_k: int | None = None, detector: str = "motion", scorer: str = "teacher",
                 labeler: str = "teacher", csrt: dict[str, Any] | None = None):
        self.candidates = candidates  # "train" or a folder of clips, one sub-folder per class
        self.videos_per_class = videos_per_class  # None: every candidate; else a seeded subset per class
        self.boxes_per_video = boxes_per_video  # the paper: 3
        self.grid = grid  # N: N x N tiles per video
        self.top_k = top_k  # None: IPC * N^2 (every distilled tile a different crop, when there are enough)
        self.detector = detector  # "motion" or "module:callable" (frames (T, H, W, 3) uint8 RGB -> boxes)
        self.scorer = scorer  # "teacher", "module:callable" or a TorchScript file (clips -> logits)
        self.labeler = labeler  # soft labels per tile: "teacher", "scorer" or "onehot"
        self.csrt = csrt  # CSRT parameters overriding OpenCV's defaults, e.g. FAST_CSRT
        if "teacher" not in (scorer, labeler):
            self.tags = vddbench.DistillerTags(needs_teacher=False, soft_labels=True)
        self._check_values()  # a bad value stops `vddbench run` before any work

    # -- inputs --------------------------------------------------------------------------------
    def _check_values(self) -> None:
        if self.grid < 1 or self.boxes_per_video < 1 or (self.top_k is not None and self.top_k < 1):
            raise vddbench.DistillerError(f"distiller '{self.name}' needs grid, boxes_per_video and top_k >= 1; "
                                          f"got {self.grid}, {self.boxes_per_video}, {self.top_k}")
        if self.labeler not in ("teacher", "scorer", "onehot"):
            raise vddbench.DistillerError(f"distiller '{self.name}': labeler should be 'teacher', 'scorer' or "
                                          f"'onehot'; got {self.labeler!r}")

    def _check(self, task: vddbench.DistillTask) -> None:
        """What needs the clip size (the values were checked when built)."""
        if task.clip.height < self.grid or task.clip.width < self.grid:
            raise vddbench.DistillerError(f"distiller '{self.name}' cannot tile {self.grid} x {self.grid} crops "
                                          f"into {task.clip.height} x {task.clip.width} frames")

    def _detector(self, task):
        if self.detector == "motion":
            return motion_proposals, "motion proposals (frame differences), the stand-in for YOLOv5"
        fn, desc = user_model(self.name, self.detector, task.device)
        return fn, desc

    def _classifiers(self, task):
        """(scorer fn, its description, labeler fn or None for one-hot, its description)."""
        teacher = task.teacher() if "teacher" in (self.scorer, self.labeler) else None
        t_desc = (f"protocol teacher ({teacher_name(teacher)} trained on the training split)"
                  if teacher is not None else "")
        if self.scorer == "teacher":
            scorer, s_desc = teacher, t_desc + ", the stand-in for a Kinetics-400 R3D-18"
        else:
            scorer, s_desc = user_model(self.name, self.scorer, task.device)
        labeler = {"teacher": teacher, "scorer": scorer, "onehot": None}[self.labeler]
        l_desc = {"teacher": t_desc, "scorer": "the scorer", "onehot": "one-hot class labels"}[self.labeler]
        return scorer, s_desc, labeler, l_desc

    # -- steps 1-2: regions, tracks, crops -------------------------------------------------------
    def _crops(self, task, pool, index: torch.Tensor, detect, g: torch.Generator, tile: tuple[int, int]):
        """Cropped tiles ``(n, T, th, tw, 3)`` uint8 of the clips ``index``; counts for the record."""
        tiles, stats = [], {"boxes": 0, "lost": 0, "no_region": 0}
        min_width = tile[0]  # a crop window is never narrower than the tile (no blowing up of pixels)
        for i in index.tolist():
            frames = pool.raw([i])[0].permute(1, 2, 3, 0).contiguous().numpy()  # (T, H, W, 3) RGB
            boxes = [tuple(float(v) for v in b[:4]) for b in detect(frames)]
            boxes = [b for b in boxes if b[2] > 0 and b[3] > 0]
            if not boxes:
                stats["no_region"] += 1
                continue
            order = torch.randperm(len(boxes), generator=g)[: self.boxes_per_video].tolist()
            bgr = np.ascontiguousarray(frames[..., ::-1])
            for j in order:
                path, lost = track(bgr, boxes[j], self.csrt)
                tiles.append(cropped_video(frames, path, tile, min_width))
                stats["boxes"] += 1
                stats["lost"] += lost
        return tiles, stats

    # -- step 3: scores and soft labels ------------------------------------------------------------
    @torch.no_grad()
    def _score(self, task, tiles: torch.Tensor, scorer, labeler, batch: int = 128):
        """Top-1 confidence of each tile (as the classifier sees it: scaled up to the clip size) and
        its soft label (or None for one-hot)."""
        scores, labels = [], []
        for start in range(0, len(tiles), batch):
            t = tiles[start:start + batch]  # (n, T, th, tw, 3) uint8
            n, frames = t.shape[:2]
            x = t.permute(0, 1, 4, 2, 3).reshape(n * frames, 3, *t.shape[2:4]).float()
            x = F.interpolate(x, size=(task.clip.height, task.clip.width), mode="bilinear", align_corners=False)
            x = x.round().clamp(0, 255).to(torch.uint8).reshape(n, frames, 3, task.clip.height, task.clip.width)
            x = vddbench.normalize(x.transpose(1, 2)).to(task.device)
            probs = torch.softmax(scorer(x).float(), 1).cpu()
            scores.append(probs.max(1).values)
            if labeler is scorer:
                labels.append(probs)
            elif labeler is not None:
                labels.append(torch.softmax(labeler(x).float(), 1).cpu())
        soft = torch.cat(labels) if labels else None
        if soft is not None and soft.shape[1] != task.num_classes:
            raise vddbench.DistillerError(
                f"distiller '{self.name}' should get soft labels over the dataset's {task.num_classes} classes "
                f"from its labeler; got {soft.shape[1]} (use labeler='teacher' or 'onehot' with a scorer "
                f"trained on other labels)")
        return torch.cat(scores), soft

    # -- step 4: top-K, N x N tiles -----------------------------------------------------------------
    def _compose(self, task, tiles: torch.Tensor, groups: list[list[int]]) -> torch.Tensor:
        """uint8 videos ``(len(groups), 3, T, H, W)``: tile ``m`` of group ``j`` at row m // N, column m % N."""
        n = self.grid
        _, frames, th, tw, _ = tiles.shape
        mosaic = torch.zeros(len(groups), frames, n * th, n * tw, 3, dtype=torch.uint8)
        for j, group in enumerate(groups):
            for m, k in enumerate(group):
                r, c = divmod(m, n)
                mosaic[j, :, r * th:(r + 1) * th, c * tw:(c + 1) * tw] = tiles[k]
        videos = mosaic.permute(0, 4, 1, 2, 3)  # (V, 3, T, nH, nW)
        if (n * th, n * tw) != (task.clip.height, task.clip.width):  # sizes not divisible by N
            flat = videos.transpose(1, 2).reshape(-1, 3, n * th, n * tw).float()
            flat = F.interpolate(flat, size=(task.clip.height, task.clip.width), mode="bilinear", align_corners=False)
            videos = flat.round().clamp(0, 255).to(torch.uint8).reshape(
                len(groups), frames, 3, task.clip.height, task.clip.width).transpose(1, 2)
        return videos.contiguous()

    def distill(self, task: vddbench.DistillTask) -> vddbench.Artifact:
        import cv2

        self._check(task)
        n2 = self.grid * self.grid
        tile = (task.clip.width // self.grid, task.clip.height // self.grid)
        pool, members, pool_desc = candidate_pool(self.name, self.candidates, task, None, task.generator(offset=1))
        detect, d_desc = self._detector(task)
        scorer, s_desc, labeler, l_desc = self._classifiers(task)
        g = task.generator(offset=2)
        threads = cv2.getNumThreads()
        cv2.setNumThreads(1)  # the harness gives each cell one thread
        try:
            per_class, totals = [], {"boxes": 0, "lost": 0, "no_region": 0}
            for label, index in enumerate(members):
                if self.videos_per_class is not None and len(index) > self.videos_per_class:
                    index = index[torch.randperm(len(index), generator=g)[: self.videos_per_class]].sort().values
                tiles, stats = self._crops(task, pool, index, detect, g, tile)
                if not tiles:
                    raise vddbench.DistillerError(f"distiller '{self.name}' found no region to track in any of the "
                                                  f"{len(index)} clips of class {label}")
                per_class.append(torch.from_numpy(np.stack(tiles)))
                totals = {k: totals[k] + stats[k] for k in totals}
        finally:
            cv2.setNumThreads(threads)

        videos, tile_labels, classes, kept = [], [], [], []
        for label, tiles in enumerate(per_class):
            scores, soft = self._score(task, tiles, scorer, labeler)
            if soft is None:
                soft = F.one_hot(torch.full((len(tiles),), label), task.num_classes).float()
            want = task.ipc * n2 if self.top_k is None else self.top_k
            k = min(want, len(tiles))
            top = torch.sort(scores, descending=True, stable=True).indices[:k]
            kept.append(k)
            order = top[torch.randperm(k, generator=g)]  # each video draws N x N of the top-K at random
            groups = [[int(order[(j * n2 + m) % k]) for m in range(n2)] for j in range(task.ipc)]
            videos.append(self._compose(task, tiles, groups))
            tile_labels.append(torch.stack([soft[group] for group in groups]))
            classes += [label] * task.ipc
        uses = math.ceil(task.ipc * n2 / min(kept))
        return vddbench.Artifact(
            {"videos_uint8": torch.cat(videos), "tile_labels": torch.cat(tile_labels).contiguous(),
             "classes": torch.tensor(classes)},
            {"candidates": pool_desc, "detector": d_desc, "scorer": s_desc, "labeler": l_desc,
             "tracker": "OpenCV CSRT " + (", ".join(f"{k}={v}" for k, v in sorted(self.csrt.items()))
                                          if self.csrt else "(OpenCV's defaults)"),
             "tiles": f"{self.grid}x{self.grid} tiles of {tile[0]}x{tile[1]} px",
             "crops": f"{totals['boxes']} tracked regions ({totals['lost']} frames where CSRT lost the target, "
                      f"{totals['no_region']} clips without a region); top-K kept per class "
                      f"{min(kept)}-{max(kept)}; a crop is used at most {uses} time(s)"})

    def expand(self, artifact: vddbench.Artifact) -> vddbench.DistilledVideos:
        # Eq. 5 sums the tiles' soft-label cross-entropies; a student that sees the whole tiled
        # video gives one prediction, for which that sum is N^2 x the cross-entropy of the tiles'
        # mean label.
        labels = artifact.tensors["tile_labels"].mean(1)
        labels = labels / labels.sum(1, keepdim=True)
        return vddbench.DistilledVideos(vddbench.normalize(artifact.tensors["videos_uint8"]), labels,
                                        classes=artifact.tensors["classes"])


@vddbench.hookimpl
def register_distillers(register):
    register(OptDistill)
