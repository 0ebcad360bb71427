"""VDSD, "Dancing with Still Images: Video Distillation via Static-Dynamic Disentanglement"
(Wang, Xu, Lu, Li; CVPR 2024), on top of DM (DM+VDSD).

A distilled video is not stored as pixels. Per class the artifact holds

* a **static memory**: still images ``(3, H, W)``, learned first (stage 1, "static learning");
* a **dynamic memory**: single-channel ``T``-frame maps ``(T, H, W)``, initialised from randn;
* one shared **hallucinator**: ``Conv3d(4 -> 3, kernel 3, padding 1)`` that turns an image repeated
  over time, concatenated with a dynamic map, into a video ``(3, T, H, W)``.

Stage 2 ("dynamic fine-tuning") freezes the static memory (``--no_train_static`` in the reference
scripts) and learns the dynamic memory and the hallucinator with DM's loss: the mean embedding of a
freshly initialised protocol student must match between real clips and hallucinated videos of each
class. SGD with momentum 0.95. As in the reference code, video slot ``i`` of a class owns
``statics_per_video`` images and ``dynamics_per_video`` maps, and each iteration combines a random
one of each; ``expand`` rebuilds every such combination from the stored parts.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import vddbench

__all__ = ["VDSD", "hallucinate"]

HALLUCINATORS = ("concat", "add")
HAL_INITS = ("default", "identity")


def hallucinate(static: torch.Tensor, dynamic: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor,
                mode: str = "concat") -> torch.Tensor:
    """Videos ``(n, 3, T, H, W)`` from images ``(n, 3, H, W)`` and dynamic maps ``(n, T, H, W)``.

    ``concat``: the image repeated over time and the map stacked as a 4th channel, then one
    ``Conv3d(4, 3, 3, padding=1)`` (VDSD's default). ``add``: map added to every colour channel, then
    ``Conv3d(3, 3, 3, padding=1)`` (the reference code's other hallucinator mode).
    """
    frames = dynamic.shape[1]
    still = static.unsqueeze(2).expand(-1, -1, frames, -1, -1)
    motion = dynamic.unsqueeze(1)
    x = torch.cat([still, motion], 1) if mode == "concat" else still + motion
    return F.conv3d(x, weight, bias, padding=1)


def _class_batches(task: vddbench.DistillTask, batch: int, generator: torch.Generator) -> list[torch.Tensor]:
    out = []
    for label in range(task.num_classes):
        members = task.train.indices_of(label)
        out.append(members[torch.randperm(len(members), generator=generator)[:batch]].sort().values)
    return out


def _dm_loss(student: torch.nn.Module, real: list[torch.Tensor], syn: list[torch.Tensor]) -> torch.Tensor:
    return vddbench.mean_embedding_loss(student, real, syn, flat=True)  # flattened, as the reference


def _random_frames(clips: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One random frame of each clip: ``(n, 3, T, H, W) -> (n, 3, H, W)``."""
    t = torch.randint(clips.shape[2], (len(clips),), generator=generator)
    return clips[torch.arange(len(clips)), :, t]


def _still(images: torch.Tensor, frames: int) -> torch.Tensor:
    """A still image repeated over time: ``(n, 3, H, W) -> (n, 3, T, H, W)``."""
    return images.unsqueeze(2).expand(-1, -1, frames, -1, -1)


class VDSD(vddbench.Distiller):
    """DM+VDSD: static memory (still images) + dynamic memory (1-channel maps) + a Conv3d hallucinator.

    iterations: stage-2 (dynamic) iterations; 5,000 in VDSD's DM+VDSD script.
    lr_dynamic, lr_hal: SGD learning rates of the dynamic memory and the hallucinator; VDSD's
        README gives 1e-4 and 1e-5 for DM+VDSD at IPC 1.
    momentum: SGD momentum of every stage-2 optimiser; 0.95 in VDSD.
    batch_real: real clips per class per iteration (both stages); 64 in VDSD.
    statics_per_video, dynamics_per_video: memories owned by each video slot; 2 and 2 in VDSD
        (``--spc 2 --dpc 2`` at IPC 1, ``10`` and ``10`` at IPC 5).
    hallucinator: ``"concat"`` (4 -> 3 channels, VDSD) or ``"add"`` (ablation).
    static_iterations, lr_static, static_momentum: stage 1, DM on still frames (see README.md);
        0 iterations keeps the static memory at its real-frame initialisation.
    train_static: keep learning the static memory in stage 2 (off in VDSD's scripts).
    use_dynamic: False drops the dynamic memory (ablation: videos from still images only).
    hal_init: ``"default"`` (PyTorch's Conv3d init, as in VDSD) or ``"identity"`` (the centre tap
        passes the still image through unchanged, so the first videos are the still images; the
        dynamic channel keeps its default init). Not in the paper; see README.md.
    """

    name = "vdsd"
    # expand rebuilds every (static, dynamic) combination of a slot: S x D clips per stored slot.
    tags = vddbench.DistillerTags(exact_ipc=False)
    # The embedded protocol must run its whole grid in minutes on two CPU cores; see README.md.
    protocol_defaults = {
        "embedded": {"iterations": 25, "static_iterations": 15, "batch_real": 10,
                     "statics_per_video": 1, "dynamics_per_video": 1, "hal_init": "identity",
                     "lr_static": 1000.0, "lr_dynamic": 100.0, "lr_hal": 1e-3},
        "smoke": {"iterations": 3, "static_iterations": 2, "batch_real": 4},
    }

    def __init__(self, iterations: int = 5000, lr_dynamic: float = 1e-4, lr_hal: float = 1e-5,
                 momentum: float = 0.95, batch_real: int = 64, statics_per_video: int = 2,
                 dynamics_per_video: int = 2, hallucinator: str = "concat", static_iterations: int = 5000,
                 lr_static: float = 100.0, static_momentum: float = 0.5, train_static: bool = False,
                 use_dynamic: bool = True, hal_init: str = "default"):
        self.iterations = iterations
        self.lr_dynamic = lr_dynamic
        self.lr_hal = lr_hal
        self.momentum = momentum
        self.batch_real = batch_real
        self.statics_per_video = statics_per_video
        self.dynamics_per_video = dynamics_per_video
        self.hallucinator = hallucinator
        self.static_iterations = static_iterations
        self.lr_static = lr_static
        self.static_momentum = static_momentum
        self.train_static = train_static
        self.use_dynamic = use_dynamic
        self.hal_init = hal_init

    # -- checks and layout -----------------------------------------------------------------------
    def _fail(self, what: str):
        raise vddbench.DistillerError(f"distiller 'vdsd': {what}")

    def _check(self, task: vddbench.DistillTask) -> None:
        if self.hallucinator not in HALLUCINATORS:
            self._fail(f"hallucinator should be one of {HALLUCINATORS}; got {self.hallucinator!r}")
        if task.ipc < 1:
            self._fail(f"needs IPC >= 1; got {task.ipc}")
        if self.hal_init not in HAL_INITS:
            self._fail(f"hal_init should be one of {HAL_INITS}; got {self.hal_init!r}")
        if self.statics_per_video < 1 or self.dynamics_per_video < 1:
            self._fail("statics_per_video and dynamics_per_video should be >= 1")
        if min(self.iterations, self.static_iterations) < 0 or self.batch_real < 1:
            self._fail("iteration counts should be >= 0 and batch_real >= 1")

    def _dynamics(self) -> int:
        return self.dynamics_per_video if self.use_dynamic else 0

    def _hal_in_channels(self) -> int:
        return 4 if self.hallucinator == "concat" else 3

    # -- stage 1: static learning ----------------------------------------------------------------
    def init_static(self, task: vddbench.DistillTask) -> torch.Tensor:
        """``(classes, ipc * statics_per_video, 3, H, W)``: a random frame of each of
        ``task.random_real_indices`` clips, so slot ``i``'s first image comes from the clip
        ``random`` stores in slot ``i`` (a paired comparison)."""
        s_per, ipc = self.statics_per_video, task.ipc
        # slot i: random's clip i, then S-1 further clips of the class
        order = torch.tensor([j for i in range(ipc) for j in [i] + [ipc + i * (s_per - 1) + k for k in range(s_per - 1)]])
        g = task.generator(offset=1)
        return torch.stack([_random_frames(task.train.clips(pick[order]), g)
                            for pick in task.random_real_indices(ipc * s_per)])

    def learn_static(self, task: vddbench.DistillTask, static: torch.Tensor) -> torch.Tensor:
        """DM on still images: repeated over time, their mean embedding must match that of
        still clips made from random frames of real clips of the same class."""
        static = static.clone().to(task.device).requires_grad_(True)
        optimizer = torch.optim.SGD([static], lr=self.lr_static, momentum=self.static_momentum)
        g = task.generator(offset=2)
        frames = task.clip.frames
        student = vddbench.frozen_student(task.new_student())
        for _ in range(self.static_iterations):
            task.reset_student(student)
            real = [_still(_random_frames(task.train.clips(idx), g), frames).to(task.device)
                    for idx in _class_batches(task, self.batch_real, g)]
            loss = _dm_loss(student, real, [_still(s, frames) for s in static])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        return static.detach()

    # -- stage 2: dynamic fine-tuning --------------------------------------------------------------
    def init_dynamic(self, task: vddbench.DistillTask) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Dynamic memory from randn and a hallucinator with PyTorch's default Conv3d init."""
        g = task.generator(offset=3)
        shape = (task.num_classes, task.ipc * self._dynamics(), task.clip.frames, task.clip.height, task.clip.width)
        dynamic = torch.randn(shape, generator=g)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=g)))
            conv = torch.nn.Conv3d(self._hal_in_channels(), 3, kernel_size=3, padding=1)
        weight, bias = conv.weight.detach().clone(), conv.bias.detach().clone()
        if self.hal_init == "identity":  # output = still image (+ the dynamic channel's share)
            weight[:, :3] = 0.0
            weight[:, :3, 1, 1, 1] = torch.eye(3)
            bias.zero_()
        return dynamic, weight, bias

    def _compose(self, static, dynamic, weight, bias, ipc: int, g: torch.Generator) -> list[torch.Tensor]:
        """One video per (class, slot): a random static and a random dynamic of the slot's own."""
        classes, s_per, d_per = static.shape[0], self.statics_per_video, self._dynamics()
        slot = torch.arange(ipc)
        s_idx = slot * s_per + torch.randint(s_per, (classes, ipc), generator=g)
        rows = torch.arange(classes)[:, None]
        images = static[rows, s_idx].flatten(0, 1)  # CPU indices work for any device
        if d_per:
            d_idx = slot * d_per + torch.randint(d_per, (classes, ipc), generator=g)
            maps = dynamic[rows, d_idx].flatten(0, 1)
        else:
            maps = torch.zeros(len(images), *dynamic.shape[2:], device=static.device)
        videos = hallucinate(images, maps, weight, bias, self.hallucinator)
        return list(videos.view(classes, ipc, *videos.shape[1:]))

    def distill(self, task: vddbench.DistillTask, trace: list[float] | None = None) -> vddbench.Artifact:
        """Stage 1 then stage 2. If ``trace`` is a list, every stage-2 loss is appended to it."""
        self._check(task)
        static = self.learn_static(task, self.init_static(task))
        dynamic, weight, bias = (t.to(task.device) for t in self.init_dynamic(task))
        static.requires_grad_(self.train_static)
        weight.requires_grad_(True)
        bias.requires_grad_(True)
        optimizers = [torch.optim.SGD([weight, bias], lr=self.lr_hal, momentum=self.momentum)]
        if self.use_dynamic:
            dynamic.requires_grad_(True)
            optimizers.append(torch.optim.SGD([dynamic], lr=self.lr_dynamic, momentum=self.momentum))
        if self.train_static:
            optimizers.append(torch.optim.SGD([static], lr=self.lr_static, momentum=self.momentum))
        g = task.generator(offset=4)
        student = vddbench.frozen_student(task.new_student())
        for _ in range(self.iterations):
            task.reset_student(student)
            real = [task.train.clips(idx).to(task.device) for idx in _class_batches(task, self.batch_real, g)]
            loss = _dm_loss(student, real, self._compose(static, dynamic, weight, bias, task.ipc, g))
            for opt in optimizers:
                opt.zero_grad(set_to_none=True)
            loss.backward()
            for opt in optimizers:
                opt.step()
            if trace is not None:
                trace.append(loss.item())
        tensors = {
            "static": static.detach().flatten(0, 1).cpu().contiguous(),  # (classes*ipc*S, 3, H, W)
            "hallucinator.weight": weight.detach().cpu().contiguous(),
            "hallucinator.bias": bias.detach().cpu().contiguous(),
        }
        if self.use_dynamic:
            tensors["dynamic"] = dynamic.detach().flatten(0, 1).cpu().contiguous()  # (classes*ipc*D, T, H, W)
        metadata = {"method": "vdsd", "num_classes": str(task.num_classes), "ipc": str(task.ipc),
                    "frames": str(task.clip.frames), "statics_per_video": str(self.statics_per_video),
                    "dynamics_per_video": str(self._dynamics()), "hallucinator": self.hallucinator}
        return vddbench.Artifact(tensors, metadata)

    # -- expand: rebuild the videos from exactly what was stored ------------------------------------
    @torch.no_grad()
    def expand(self, artifact: vddbench.Artifact) -> vddbench.DistilledVideos:
        """Every (static, dynamic) combination of every slot, labelled with its class.

        Order: class, slot, static, dynamic. ``classes * ipc * S * D`` videos (``S * D`` is 1 with
        the embedded defaults, 4 with the paper's).
        """
        meta, t = artifact.metadata, artifact.tensors
        classes, ipc = int(meta["num_classes"]), int(meta["ipc"])
        s_per, d_per, frames = int(meta["statics_per_video"]), int(meta["dynamics_per_video"]), int(meta["frames"])
        static = t["static"].view(classes, ipc, s_per, *t["static"].shape[1:])
        if d_per:
            dynamic = t["dynamic"].view(classes, ipc, d_per, *t["dynamic"].shape[1:])
        else:
            dynamic = torch.zeros(classes, ipc, 1, frames, *static.shape[-2:])
            d_per = 1
        images = static[:, :, :, None].expand(-1, -1, -1, d_per, -1, -1, -1).reshape(-1, *static.shape[-3:])
        maps = dynamic[:, :, None].expand(-1, -1, s_per, -1, -1, -1, -1).reshape(-1, *dynamic.shape[-3:])
        videos = torch.cat([
            hallucinate(images[i:i + 256], maps[i:i + 256], t["hallucinator.weight"], t["hallucinator.bias"],
                        meta["hallucinator"])
            for i in range(0, len(images), 256)])
        labels = torch.arange(classes).repeat_interleave(ipc * s_per * d_per)
        return vddbench.DistilledVideos(videos.float().contiguous(), labels)


@vddbench.hookimpl
def register_distillers(register):
    register(VDSD)
