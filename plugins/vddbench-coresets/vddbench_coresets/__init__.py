"""Coreset baselines: real clips chosen per class at random, by herding, or by k-center greedy.

Herding and k-center choose on features of a randomly initialised protocol student, as in the
papers' baselines: its flattened feature map by default, as the reference code embeds
(``features="pooled"`` averages it over time and space instead). ``random`` draws
``task.random_real_indices()``, the clips every real-initialised method starts from, so their
comparison with ``random`` is paired. The artifact stores the chosen clips themselves (uint8, as decoded), never their
indices, so it is self-contained.
"""

from __future__ import annotations

import torch

import vddbench


def _artifact(task: vddbench.DistillTask, chosen: list[torch.Tensor]) -> vddbench.Artifact:
    index = torch.cat(chosen)
    return vddbench.Artifact({"videos_uint8": task.train.raw(index), "labels": task.train.labels[index]})


@torch.no_grad()
def _class_features(task: vddbench.DistillTask, members: torch.Tensor, flat: bool, batch: int = 64) -> torch.Tensor:
    student = task.new_student().eval()
    feats = [student.embed(task.train.clips(members[i:i + batch]).to(task.device), flat=flat).cpu()
             for i in range(0, len(members), batch)]
    return torch.cat(feats)


class _Coreset(vddbench.Distiller):
    """Stores the chosen clips as ``videos_uint8``, which the default ``expand`` normalises."""

    def select(self, task: vddbench.DistillTask, members: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def distill(self, task: vddbench.DistillTask) -> vddbench.Artifact:
        chosen = []
        for label in range(task.num_classes):
            members = task.train.indices_of(label)
            if len(members) < task.ipc:
                raise vddbench.DistillerError(
                    f"distiller '{self.name}': class {label} has {len(members)} training clips, "
                    f"fewer than IPC {task.ipc}")
            chosen.append(members[self.select(task, members)])
        return _artifact(task, chosen)


class RandomCoreset(_Coreset):
    """IPC real clips per class, drawn uniformly at random (``task.random_real_indices``)."""

    name = "random"

    def distill(self, task: vddbench.DistillTask) -> vddbench.Artifact:
        try:
            return _artifact(task, task.random_real_indices())
        except vddbench.DistillerError as exc:
            raise vddbench.DistillerError(f"distiller '{self.name}': {exc}") from None


class _FeatureCoreset(_Coreset):
    """features: ``"flat"`` (the flattened feature map, as the reference code) or ``"pooled"``."""

    def __init__(self, features: str = "flat"):
        self.features = features
        if features not in ("flat", "pooled"):  # refused before `vddbench run` does any work
            raise vddbench.DistillerError(
                f"distiller '{self.name}': features should be 'flat' or 'pooled'; got {features!r}")

    def class_features(self, task, members):
        return _class_features(task, members, flat=self.features == "flat")


class Herding(_FeatureCoreset):
    """Herding: greedily add the clip that keeps the running mean closest to the class mean."""

    name = "herding"

    def select(self, task, members):
        feats = self.class_features(task, members)
        target = feats.mean(0)
        picked: list[int] = []
        total = torch.zeros_like(target)
        for k in range(1, task.ipc + 1):
            gap = ((total[None] + feats) / k - target).norm(dim=1)
            if picked:
                gap[picked] = float("inf")
            best = int(gap.argmin())
            picked.append(best)
            total += feats[best]
        return torch.tensor(picked)


class KCenter(_FeatureCoreset):
    """k-center greedy: start at the clip nearest the class mean, then add the farthest clip."""

    name = "kcenter"

    def select(self, task, members):
        feats = self.class_features(task, members)
        picked = [int((feats - feats.mean(0)).norm(dim=1).argmin())]
        nearest = (feats - feats[picked[0]]).norm(dim=1)
        while len(picked) < task.ipc:
            best = int(nearest.argmax())
            picked.append(best)
            nearest = torch.minimum(nearest, (feats - feats[best]).norm(dim=1))
        return torch.tensor(picked)


@vddbench.hookimpl
def register_distillers(register):
    for cls in (RandomCoreset, Herding, KCenter):
        register(cls)
