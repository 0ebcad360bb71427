"""VDSD's parameterisation of a distilled video set, written once and shared by every objective
(DM+VDSD ``vdsd``, MTT+VDSD ``mtt-vdsd``, FRePo+VDSD ``frepo-vdsd``).

A distilled video is not stored as pixels. Per class there are

* a **static memory**: still images ``(3, H, W)``, learned first with Static-DC (DC on single frames,
  ``vddbench_static_dc.learn_static_images``), as the authors do (``--path_static``; "We use DC for
  static learning"), then frozen;
* a **dynamic memory**: single-channel ``T``-frame maps ``(T, H, W)``, initialised from randn;

and one **hallucinator** shared by all classes, ``Conv3d(4 -> 3, kernel 3, padding 1)`` (the
reference's ``Conv3DNet``): the still image repeated over time, with a dynamic map as a 4th channel,
becomes a video ``(3, T, H, W)``.

Video slot ``i`` of a class owns ``S`` static images and ``D`` dynamic maps (``S = D = 2`` in the
DM/MTT scripts, ``1`` and ``1`` in FRePo's). While a set is learned, each slot gives one video from a
random one of its images and a random one of its maps (:meth:`Memory.compose`); ``expand`` rebuilds
every ``S x D`` combination (:func:`expand`).

Artifact layout (:meth:`Memory.artifact`): ``static`` ``(classes*IPC*S, 3, H, W)``, ``dynamic``
``(classes*IPC*D, T, H, W)`` (absent without dynamic memory), ``hallucinator.weight`` /
``hallucinator.bias``, and string metadata ``num_classes, ipc, frames, statics_per_video,
dynamics_per_video, hallucinator``; an objective may add tensors of its own (MTT's ``syn_lr``,
FRePo's learned ``labels``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F

import vddbench

__all__ = ["HALLUCINATORS", "HAL_INITS", "Memory", "hallucinate", "init_static", "learn_static", "init_dynamic",
           "init_memory", "expand", "stored_numbers"]

HALLUCINATORS = ("concat", "add")
HAL_INITS = ("default", "identity")
_CHUNK = 256  # videos hallucinated at once by expand (bounded memory on real datasets)


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


@dataclass
class Memory:
    """The learnable parts of a VDSD set.

    static: ``(classes, IPC*S, 3, H, W)``; slot ``i`` owns images ``i*S .. i*S+S-1``.
    dynamic: ``(classes, IPC*D, T, H, W)``, or None without dynamic memory (``D = 0``: the
        hallucinator sees zero maps).
    weight, bias: the hallucinator's ``Conv3d``.
    """

    static: torch.Tensor
    dynamic: torch.Tensor | None
    weight: torch.Tensor
    bias: torch.Tensor
    statics_per_video: int
    dynamics_per_video: int
    hallucinator: str
    frames: int

    @property
    def classes(self) -> int:
        return self.static.shape[0]

    @property
    def ipc(self) -> int:
        return self.static.shape[1] // self.statics_per_video

    def to(self, device) -> "Memory":
        dynamic = None if self.dynamic is None else self.dynamic.to(device)
        return replace(self, static=self.static.to(device), dynamic=dynamic, weight=self.weight.to(device),
                       bias=self.bias.to(device))

    def _maps(self, d_idx: torch.Tensor | None, n: int) -> torch.Tensor:
        if self.dynamic is None:
            return torch.zeros(n, self.frames, *self.static.shape[-2:], device=self.static.device)
        return self.dynamic[torch.arange(self.classes)[:, None], d_idx].flatten(0, 1)

    def compose(self, generator: torch.Generator) -> torch.Tensor:
        """One video per (class, slot), class-major ``(classes*IPC, 3, T, H, W)``: a random static and
        a random dynamic of the slot's own (the reference's ``static_idx``/``dynamic_idx`` draw).
        Differentiable w.r.t. every part that requires grad."""
        classes, ipc, s_per, d_per = self.classes, self.ipc, self.statics_per_video, self.dynamics_per_video
        slot = torch.arange(ipc)
        s_idx = slot * s_per + torch.randint(s_per, (classes, ipc), generator=generator)
        images = self.static[torch.arange(classes)[:, None], s_idx].flatten(0, 1)  # CPU indices work on any device
        d_idx = slot * d_per + torch.randint(d_per, (classes, ipc), generator=generator) if d_per else None
        return hallucinate(images, self._maps(d_idx, len(images)), self.weight, self.bias, self.hallucinator)

    def combinations(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Every (static, dynamic) combination of every slot: videos ``(classes*IPC*S*max(D,1), 3, T,
        H, W)`` in the order class, slot, static, dynamic, and the slot index of each."""
        classes, ipc, s_per, d_per = self.classes, self.ipc, self.statics_per_video, max(self.dynamics_per_video, 1)
        static = self.static.reshape(classes, ipc, s_per, *self.static.shape[-3:])
        if self.dynamic is None:
            dynamic = torch.zeros(classes, ipc, 1, self.frames, *self.static.shape[-2:], device=self.static.device)
        else:
            dynamic = self.dynamic.reshape(classes, ipc, d_per, *self.dynamic.shape[-3:])
        images = static[:, :, :, None].expand(-1, -1, -1, d_per, -1, -1, -1).reshape(-1, *static.shape[-3:])
        maps = dynamic[:, :, None].expand(-1, -1, s_per, -1, -1, -1, -1).reshape(-1, *dynamic.shape[-3:])
        videos = torch.cat([hallucinate(images[i:i + _CHUNK], maps[i:i + _CHUNK], self.weight, self.bias,
                                        self.hallucinator) for i in range(0, len(images), _CHUNK)])
        return videos, torch.arange(classes * ipc).repeat_interleave(s_per * d_per)

    # -- artifact layout -----------------------------------------------------------------------------
    def artifact(self, method: str, extra: dict[str, torch.Tensor] | None = None) -> vddbench.Artifact:
        """The stored parts (CPU, contiguous, detached) plus ``extra`` tensors of the objective."""
        tensors = {
            "static": self.static.detach().flatten(0, 1).cpu().contiguous(),
            "hallucinator.weight": self.weight.detach().cpu().contiguous(),
            "hallucinator.bias": self.bias.detach().cpu().contiguous(),
        }
        if self.dynamic is not None:
            tensors["dynamic"] = self.dynamic.detach().flatten(0, 1).cpu().contiguous()
        tensors.update({k: v.detach().cpu().contiguous() for k, v in (extra or {}).items()})
        metadata = {"method": method, "num_classes": str(self.classes), "ipc": str(self.ipc),
                    "frames": str(self.frames), "statics_per_video": str(self.statics_per_video),
                    "dynamics_per_video": str(self.dynamics_per_video), "hallucinator": self.hallucinator}
        return vddbench.Artifact(tensors, metadata)

    @classmethod
    def from_artifact(cls, artifact: vddbench.Artifact) -> "Memory":
        """The memory exactly as stored (nothing but the artifact is read)."""
        meta, t = artifact.metadata, artifact.tensors
        classes = int(meta["num_classes"])
        d_per = int(meta["dynamics_per_video"])
        static = t["static"]
        dynamic = t["dynamic"].view(classes, -1, *t["dynamic"].shape[1:]) if d_per else None
        return cls(static.view(classes, -1, *static.shape[1:]), dynamic, t["hallucinator.weight"],
                   t["hallucinator.bias"], int(meta["statics_per_video"]), d_per, meta["hallucinator"],
                   int(meta["frames"]))


# -- initialisation -----------------------------------------------------------------------------------
def init_static(task: vddbench.DistillTask, statics_per_video: int) -> torch.Tensor:
    """``(classes, IPC*S, 3, H, W)``: a random frame of each of ``task.random_real_indices`` clips,
    ordered so that slot ``i``'s first image comes from the clip ``random`` stores in slot ``i`` (a
    paired comparison). With ``S = 1`` these are exactly Static-DC's initial images."""
    from vddbench_static_dc import random_frames

    s_per, ipc = statics_per_video, task.ipc
    # slot i: random's clip i, then S-1 further clips of the class
    order = torch.tensor([j for i in range(ipc) for j in [i] + [ipc + i * (s_per - 1) + k for k in range(s_per - 1)]])
    g = task.generator(offset=1)
    return torch.stack([random_frames(task.train.clips(pick[order]), g)
                        for pick in task.random_real_indices(ipc * s_per)])


def learn_static(task: vddbench.DistillTask, static: torch.Tensor, iterations: int, lr_img: float = 0.1,
                 momentum: float = 0.5, lr_net: float = 0.01, outer_loop: int | None = None,
                 inner_loop: int | None = None, batch_real: int = 256,
                 trace: list[float] | None = None) -> torch.Tensor:
    """The static stage: Static-DC (DC gradient matching on single frames with DC's 2D ConvNet) on
    the ``(classes, n, 3, H, W)`` images, as the authors learn VDSD's static memory. ``outer_loop`` /
    ``inner_loop`` None: DC's table for ``n`` images per class. Returns the learned images (CPU)."""
    from vddbench_static_dc import get_loops, learn_static_images

    outer, inner = get_loops(static.shape[1])
    outer = outer if outer_loop is None else outer_loop
    inner = inner if inner_loop is None else inner_loop
    return learn_static_images(task, static, iterations, lr_img=lr_img, momentum=momentum, lr_net=lr_net,
                               outer_loop=outer, inner_loop=inner, batch_real=batch_real, trace=trace)


def init_dynamic(task: vddbench.DistillTask, dynamics_per_video: int, hallucinator: str = "concat",
                 hal_init: str = "default") -> tuple[torch.Tensor | None, torch.Tensor, torch.Tensor]:
    """Dynamic memory ``(classes, IPC*D, T, H, W)`` from randn (None if ``D = 0``) and the
    hallucinator's weight and bias: PyTorch's default Conv3d init (``"default"``, as the reference),
    or ``"identity"``, whose centre tap passes the still image through (the dynamic channel keeps its
    default init), so that the first videos are the still images."""
    g = task.generator(offset=3)
    shape = (task.num_classes, task.ipc * dynamics_per_video, task.clip.frames, task.clip.height, task.clip.width)
    dynamic = torch.randn(shape, generator=g)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**31 - 1, (1,), generator=g)))
        conv = torch.nn.Conv3d(4 if hallucinator == "concat" else 3, 3, kernel_size=3, padding=1)
    weight, bias = conv.weight.detach().clone(), conv.bias.detach().clone()
    if hal_init == "identity":
        weight[:, :3] = 0.0
        weight[:, :3, 1, 1, 1] = torch.eye(3)
        bias.zero_()
    return (dynamic if dynamics_per_video else None), weight, bias


def init_memory(task: vddbench.DistillTask, static: torch.Tensor, dynamics_per_video: int,
                hallucinator: str = "concat", hal_init: str = "default") -> Memory:
    """A memory on ``task.device`` from a learned static memory ``(classes, IPC*S, 3, H, W)`` and a
    fresh dynamic memory and hallucinator (:func:`init_dynamic`); nothing requires grad yet."""
    dynamic, weight, bias = init_dynamic(task, dynamics_per_video, hallucinator, hal_init)
    s_per = static.shape[1] // task.ipc
    return Memory(static, dynamic, weight, bias, s_per, dynamics_per_video, hallucinator,
                  task.clip.frames).to(task.device)


# -- expand and storage -------------------------------------------------------------------------------
@torch.no_grad()
def expand(artifact: vddbench.Artifact, slot_labels: torch.Tensor | None = None) -> vddbench.DistilledVideos:
    """Every (static, dynamic) combination of every slot; order class, slot, static, dynamic
    (``classes * IPC * S * D`` videos). Labelled with its class, or, given ``slot_labels``
    ``(classes*IPC, classes)`` (soft labels learned per slot), with its slot's, the class kept as
    ``classes`` (the plain score's hard labels)."""
    memory = Memory.from_artifact(artifact)
    videos, slots = memory.combinations()
    classes = slots // memory.ipc
    if slot_labels is None:
        return vddbench.DistilledVideos(videos.float().contiguous(), classes)
    return vddbench.DistilledVideos(videos.float().contiguous(), slot_labels[slots].contiguous(), classes=classes)


def stored_numbers(classes: int, ipc: int, frames: int, height: int, width: int, statics_per_video: int,
                   dynamics_per_video: int, hallucinator: str = "concat") -> int:
    """float32 numbers a VDSD artifact stores: ``classes*IPC*(S*3*H*W + D*T*H*W)`` plus the
    hallucinator's ``3*C_in*27 + 3``."""
    per_slot = statics_per_video * 3 * height * width + dynamics_per_video * frames * height * width
    return classes * ipc * per_slot + 3 * (4 if hallucinator == "concat" else 3) * 27 + 3
