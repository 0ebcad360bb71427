"""IDTD: Information Diversification and Temporal Densification (Zhao et al., 2024).

Per synthetic instance a learnable Feature Pool, K linear Feature Selectors that turn it into K
Diverse Segments, and a Temporal Fusor (a convolution along time) that densifies the K segments
into one video. Loss (paper Eq. after Sec. 3.4), class by class, against a freshly initialised
protocol student each iteration (DM's matching):

    L = L_M(D, T) - alpha1 * L_div(D) + alpha2 * L_M(tau(V), T)

The artifact stores the synthesised videos (float32) and hard labels: the paper's output V_syn.
"""

from __future__ import annotations

from dataclasses import replace

import torch

import vddbench

from .modules import InstanceGenerators, diversity, matching_loss, temporal_augment


class IDTD(vddbench.Distiller):
    """IDTD on top of DM (the paper's base matching objective)."""

    name = "idtd"
    tags = vddbench.DistillerTags(eval_augmentation=True)
    protocol_defaults = {
        # The README says why: ~20 iterations fit the embedded budget (~6 s per cell on one
        # thread), so start from real clips; K = 2 (cost grows with K + 1; 4 frames per segment
        # at T = 8).
        "embedded": {"iterations": 20, "k": 2, "init": "real", "real_batch": 16},
        "smoke": {"iterations": 2, "k": 2, "init": "real", "real_batch": 6},
    }

    def __init__(self, k: int = 8, lr: float = 0.01, alpha1: float = 0.05, alpha2: float = 1e-4,
                 iterations: int = 5000, real_batch: int = 64, init: str = "noise",
                 segment_matching: bool = True, min_span: float = 0.5,
                 eval_temporal_augmentation: bool = True):
        self.k = k
        self.lr = lr
        self.alpha1 = alpha1
        self.alpha2 = alpha2
        self.iterations = iterations
        self.real_batch = real_batch
        self.init = init
        self.segment_matching = segment_matching
        self.min_span = min_span
        self.eval_temporal_augmentation = eval_temporal_augmentation
        if not eval_temporal_augmentation:  # the record says whether evaluation was augmented
            self.tags = replace(type(self).tags, eval_augmentation=False)

    # -- distillation --------------------------------------------------------------------------
    def _check(self, task: vddbench.DistillTask) -> None:
        if task.ipc < 1:
            raise vddbench.DistillerError(f"distiller 'idtd' needs IPC >= 1; got {task.ipc}")
        if self.k < 1 or self.init not in ("noise", "real"):
            raise vddbench.DistillerError(f"distiller 'idtd': k must be >= 1 and init 'noise' or 'real'; got k={self.k}, init={self.init!r}")

    def build(self, task: vddbench.DistillTask) -> list[InstanceGenerators]:
        """One generator module per class (its IPC instances), initialised."""
        clip, gen = task.clip, task.generator(offset=1)
        generators = []
        for label in range(task.num_classes):
            g = InstanceGenerators(task.ipc, self.k, self.k * clip.frames, clip.frames, clip.height, clip.width)
            if self.init == "noise":
                g.init_noise(gen)
            else:
                members = task.train.indices_of(label)
                if len(members) == 0:
                    raise vddbench.DistillerError(f"distiller 'idtd': class {label} has no training clips")
                need = task.ipc * self.k  # distinct clips while they last, then repeats
                order = torch.cat([torch.randperm(len(members), generator=gen) for _ in range(-(-need // len(members)))])
                clips = task.train.clips(members[order[:need]])
                g.init_real(clips.view(task.ipc, self.k, *clips.shape[1:]))
            generators.append(g.to(task.device))
        return generators

    def step(self, task, generators, optimizers, student, gen, members) -> dict[str, float]:
        """One iteration: every class in turn (the paper's class-by-class update)."""
        totals = {"segments": 0.0, "diversity": 0.0, "fused": 0.0}
        for g, opt, members in zip(generators, optimizers, members):
            pick = members[torch.randperm(len(members), generator=gen)[: self.real_batch]]
            with torch.no_grad():
                real = student.embed(task.train.clips(pick).to(task.device))
            segments, video = g()
            n, k = segments.shape[:2]
            seg_emb = student.embed(segments.reshape(n * k, *segments.shape[2:]))
            loss = torch.zeros((), device=task.device)
            if self.segment_matching:
                seg_loss = matching_loss(real, seg_emb)
                loss = loss + seg_loss
                totals["segments"] += seg_loss.item()
            if self.alpha1:
                div = diversity(seg_emb.view(n, k, -1))
                loss = loss - self.alpha1 * div
                totals["diversity"] += div.item()
            if self.alpha2:
                fused = matching_loss(real, student.embed(temporal_augment(video, gen, self.min_span)))
                loss = loss + self.alpha2 * fused
                totals["fused"] += fused.item()
            opt.zero_grad(set_to_none=True)
            if loss.requires_grad:
                loss.backward()
                opt.step()
        return totals

    def run(self, task: vddbench.DistillTask, iterations: int | None = None) -> list[InstanceGenerators]:
        """Train the generators; returns them (tests inspect the segments)."""
        self._check(task)
        generators = self.build(task)
        optimizers = [torch.optim.Adam(g.param_groups(self.lr)) for g in generators]
        gen = task.generator(offset=2)
        members = [task.train.indices_of(label) for label in range(task.num_classes)]
        for _ in range(self.iterations if iterations is None else iterations):
            student = task.new_student()
            student.requires_grad_(False)
            self.step(task, generators, optimizers, student, gen, members)
        return generators

    def distill(self, task: vddbench.DistillTask) -> vddbench.Artifact:
        generators = self.run(task)
        with torch.no_grad():  # Synthesisation (Alg. 1): v = f({s_k(p)})
            videos = torch.cat([g()[1] for g in generators]).cpu()
        labels = torch.arange(task.num_classes).repeat_interleave(task.ipc)
        return vddbench.Artifact({"videos": videos.contiguous(), "labels": labels},
                                 metadata={"method": "idtd", "k": str(self.k)})

    # -- evaluation ----------------------------------------------------------------------------
    def augment_batch(self, videos, labels, generator):
        """The paper trains students with its Stochastic Temporal Augmentation (Sec. 4.3)."""
        if not self.eval_temporal_augmentation:
            return videos, labels
        return temporal_augment(videos, generator, self.min_span), labels


@vddbench.hookimpl
def register_distillers(register):
    register(IDTD)
