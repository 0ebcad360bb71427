"""TSGF: Temporal Saliency-Guided distillation (Gu et al., 2025), uni-level.

1. A BatchNorm teacher (MiniC3D) trained on the training split (``task.teacher("minic3d")``).
2. Synthetic clips initialised from real ones and optimised with
   ``alpha_ce * CE(teacher(x), y) + r_bn * sum_l ||mu_l - RM_l||_2 + ||var_l - RV_l||_2`` (Eq. 4-5),
   each update multiplied per frame by the temporal saliency mask (TSGF_O, Eq. 6-8).
3. Relabelling: the teacher's softmax on the final clips becomes the soft labels (stored).
4. At evaluation, VideoMix on the non-key frames of each training batch, then the teacher relabels
   the mixed batch (TSGF_A; Algorithm 1: augment, then ``y_S = phi_thetaT(x_S)``).

The artifact stores the clips (float32), the soft labels (float32, ``(N, classes)``), each clip's
class, and, because TSGF_A relabels with it at evaluation, the teacher's weights: the storage
column counts everything evaluation needs.
"""

from __future__ import annotations

from dataclasses import replace

import torch
import torch.nn.functional as F

import vddbench

from .saliency import key_frames, temporal_saliency, tsgf_mask, videomix

_LOW = [(0 - m) / s for m, s in zip(vddbench.IMAGENET_MEAN, vddbench.IMAGENET_STD)]
_HIGH = [(1 - m) / s for m, s in zip(vddbench.IMAGENET_MEAN, vddbench.IMAGENET_STD)]


class BatchNormStatistics:
    """Forward hooks on every BatchNorm of a model: ``loss()`` is Eq. (5) for the last forward."""

    def __init__(self, model: torch.nn.Module):
        self.terms: list[torch.Tensor] = []
        self.layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
        self.handles = [m.register_forward_hook(self._hook) for m in self.layers]

    def _hook(self, module, inputs, output):
        x = inputs[0]
        dims = [0] + list(range(2, x.dim()))
        mean, var = x.mean(dims), x.var(dims, unbiased=False)
        self.terms.append(torch.norm(mean - module.running_mean, 2) + torch.norm(var - module.running_var, 2))

    def loss(self) -> torch.Tensor:
        total = sum(self.terms)
        self.terms = []
        return total

    def remove(self) -> None:
        for h in self.handles:
            h.remove()


class TSGF(vddbench.Distiller):
    """Uni-level distillation against a BatchNorm teacher with the temporal saliency filter."""

    name = "tsgf"
    tags = vddbench.DistillerTags(needs_teacher=True, soft_labels=True, eval_augmentation=True)
    protocol_defaults = {
        # 30 iterations: ~6 CPU s at IPC 10 (the embedded cap); the teacher is shared per seed and
        # not counted. The README gives the loss trace and the validation runs.
        "embedded": {"iterations": 30},
        "smoke": {"iterations": 2},
    }

    def __init__(self, lr: float | None = None, r_bn: float | None = None, iterations: int = 1000,
                 alpha_ce: float = 1.0, teacher: str = "minic3d", temporal_mask: bool = True,
                 epsilon: float = 0.1, window: int = 3, relabel: bool = True, label_temperature: float = 1.0,
                 videomix: bool = True, videomix_prob: float = 1.0, synthetic_batch: int = 100):
        self.lr = lr
        self.r_bn = r_bn
        self.iterations = iterations
        self.alpha_ce = alpha_ce
        self.teacher = teacher
        self.temporal_mask = temporal_mask
        self.epsilon = epsilon
        self.window = window
        self.relabel = relabel
        self.label_temperature = label_temperature
        self.videomix = videomix
        self.videomix_prob = videomix_prob
        self.synthetic_batch = synthetic_batch
        self._teacher: torch.nn.Module | None = None  # set by expand: TSGF_A relabels with it
        if (relabel, videomix) != (True, True):  # records say what this configuration does
            self.tags = replace(type(self).tags, soft_labels=relabel, eval_augmentation=videomix)
        self._check_values()  # a bad value stops `vddbench run` before any work

    def _check_values(self) -> None:
        def fail(what: str, got) -> None:
            raise vddbench.DistillerError(f"distiller 'tsgf': {what}; got {got}")

        if self.iterations < 0 or self.synthetic_batch < 1 or self.window < 1:
            fail("iterations should be >= 0, synthetic_batch and window >= 1",
                 f"{self.iterations}, {self.synthetic_batch}, {self.window}")
        if (self.lr is not None and self.lr <= 0) or (self.r_bn is not None and self.r_bn < 0):
            fail("lr should be > 0 and r_bn >= 0, or None for the paper's value", f"{self.lr}, {self.r_bn}")
        if self.label_temperature <= 0 or not 0 <= self.videomix_prob <= 1:
            fail("label_temperature should be > 0 and videomix_prob in [0, 1]",
                 f"{self.label_temperature}, {self.videomix_prob}")

    # -- the paper's per-setting defaults (its Table 11) -----------------------------------------
    @staticmethod
    def _large(task: vddbench.DistillTask) -> bool:
        name = task.dataset.lower()
        return any(key in name for key in ("kinetics", "k400", "ssv2", "something"))

    def resolved_lr(self, task: vddbench.DistillTask) -> float:
        """0.3 on Kinetics-400 / SSv2, else 0.25 (MiniUCF, HMDB51, and anything else)."""
        if self.lr is not None:
            return self.lr
        return 0.3 if self._large(task) else 0.25

    def resolved_r_bn(self, task: vddbench.DistillTask) -> float:
        """0.01 on Kinetics-400 / SSv2; else 0.001 at IPC 1 and 0.005 above."""
        if self.r_bn is not None:
            return self.r_bn
        if self._large(task):
            return 0.01
        return 0.001 if task.ipc <= 1 else 0.005

    # -- distillation --------------------------------------------------------------------------
    def initial(self, task: vddbench.DistillTask) -> tuple[torch.Tensor, torch.Tensor]:
        """Real initialisation (the paper's Table 5): ``task.random_real_indices()``, the clips the
        ``random`` baseline stores, so that on a given seed the gain over ``random`` is the
        distillation's own. Instance-major order: every optimisation batch holds every class."""
        try:
            picks = task.random_real_indices()
        except vddbench.DistillerError as exc:
            raise vddbench.DistillerError(f"distiller 'tsgf': {exc}") from None
        index = torch.stack(picks, 1).flatten()  # (ipc, classes) row-major
        return task.train.clips(index), task.train.labels[index]

    def mask(self, videos: torch.Tensor) -> torch.Tensor:
        """The TSGF_O mask ``(N, 1, T, 1, 1)`` of the current clips (1 everywhere when disabled)."""
        if not self.temporal_mask:
            return torch.ones(videos.shape[0], 1, videos.shape[2], 1, 1, device=videos.device)
        m = tsgf_mask(temporal_saliency(videos, self.window), self.epsilon)
        return m.view(videos.shape[0], 1, videos.shape[2], 1, 1)

    def optimise(self, teacher: torch.nn.Module, videos: torch.Tensor, labels: torch.Tensor,
                 lr: float, r_bn: float, trace: list[float] | None = None) -> torch.Tensor:
        """Algorithm 1's loop for one batch: ``S <- S - lr * M * step(grad)`` (Adam's step). If
        ``trace`` is a list, the loss of every iteration is appended to it."""
        low = torch.tensor(_LOW, device=videos.device).view(1, 3, 1, 1, 1)
        high = torch.tensor(_HIGH, device=videos.device).view(1, 3, 1, 1, 1)
        x = videos.clone().requires_grad_(True)
        opt = torch.optim.Adam([x], lr=lr, betas=(0.5, 0.9))  # SRe2L's recovery optimiser
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, self.iterations))
        stats = BatchNormStatistics(teacher)
        try:
            for _ in range(self.iterations):
                loss = self.alpha_ce * F.cross_entropy(teacher(x), labels) + r_bn * stats.loss()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if trace is not None:
                    trace.append(loss.item())
                with torch.no_grad():
                    mask = self.mask(x)
                    before = x.detach().clone()
                    opt.step()
                    x.copy_(before + mask * (x - before))  # magnitude only: mask >= 0
                    x.copy_(torch.maximum(torch.minimum(x, high), low))
                schedule.step()
        finally:
            stats.remove()
        return x.detach()

    def distill(self, task: vddbench.DistillTask, trace: list[float] | None = None) -> vddbench.Artifact:
        """Run TSGF. If ``trace`` is a list, the loss of every iteration, summed over the synthetic
        batches (each batch runs its own ``iterations`` steps), is appended to it."""
        teacher = task.teacher(self.teacher).eval()
        teacher.requires_grad_(False)
        videos, labels = self.initial(task)
        lr, r_bn = self.resolved_lr(task), self.resolved_r_bn(task)
        out, traces = [], []
        for start in range(0, len(videos), self.synthetic_batch):
            chunk = slice(start, start + self.synthetic_batch)
            traces.append([] if trace is not None else None)
            out.append(self.optimise(teacher, videos[chunk].to(task.device), labels[chunk].to(task.device),
                                     lr, r_bn, traces[-1]))
        videos = torch.cat(out)
        if trace is not None:
            trace.extend(sum(step) for step in zip(*traces))
        if self.relabel:
            with torch.no_grad():
                logits = torch.cat([teacher(videos[i:i + self.synthetic_batch])
                                    for i in range(0, len(videos), self.synthetic_batch)])
            stored = F.softmax(logits.float() / self.label_temperature, dim=1).cpu()
        else:
            stored = labels
        tensors = {"videos": videos.cpu().contiguous(), "labels": stored.contiguous(), "classes": labels.cpu()}
        if self.videomix and self.relabel:  # TSGF_A relabels every mixed batch with the teacher
            tensors.update({f"teacher.{k}": v.detach().cpu().contiguous() for k, v in teacher.state_dict().items()})
        clip = task.clip
        return vddbench.Artifact(tensors, metadata={
            "method": "tsgf", "num_classes": str(task.num_classes), "lr": str(lr), "r_bn": str(r_bn),
            "teacher": self.teacher, "clip": f"{clip.frames},{clip.height},{clip.width}"})

    def expand(self, artifact: vddbench.Artifact) -> vddbench.DistilledVideos:
        t, meta = artifact.tensors, artifact.metadata
        labels = t["labels"]
        if labels.dim() == 2:  # renormalise away float rounding from storage
            labels = labels.float() / labels.float().sum(1, keepdim=True)
        teacher_state = {k[len("teacher."):]: v for k, v in t.items() if k.startswith("teacher.")}
        if teacher_state:
            frames, height, width = (int(v) for v in meta["clip"].split(","))
            teacher = vddbench.build_student(meta["teacher"], int(meta["num_classes"]),
                                             vddbench.ClipSpec(frames, height, width), seed=0)
            teacher.load_state_dict(teacher_state)
            self._teacher = teacher.eval().requires_grad_(False)
        return vddbench.DistilledVideos(t["videos"], labels, classes=t.get("classes"))

    # -- evaluation: TSGF_A ----------------------------------------------------------------------
    def augment_batch(self, videos, labels, generator, num_classes):
        """TSGF_A: VideoMix at the same positions across the non-key frames (saliency <=
        epsilon), then the teacher relabels the mixed clips (Algorithm 1). Without a stored
        teacher (``relabel=False``) the labels are mixed by pasted area instead (CutMix's rule)."""
        if not self.videomix or len(videos) < 2:
            return videos, labels
        if torch.rand(1, generator=generator).item() >= self.videomix_prob:
            return videos, labels
        if labels.dim() == 1:
            labels = F.one_hot(labels, num_classes).float()
        keep = key_frames(temporal_saliency(videos, self.window), self.epsilon)
        mixed, mixed_labels = videomix(videos, labels, keep, generator)
        if self._teacher is None:
            return mixed, mixed_labels
        teacher = self._teacher.to(videos.device)
        with torch.no_grad():
            return mixed, F.softmax(teacher(mixed).float() / self.label_temperature, dim=1)


@vddbench.hookimpl
def register_distillers(register):
    register(TSGF)
