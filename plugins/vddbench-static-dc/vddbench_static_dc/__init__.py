"""Static-DC: dataset condensation with gradient matching (DC; Zhao, Mopuri, Bilen, ICLR 2021) on
single frames, each learned image repeated over time at evaluation (the "boring video" baseline of
the video-distillation papers, and the static stage of VDSD, "Dancing with Still Images", CVPR 2024).

IPC still images per class, initialised from a random frame of ``random``'s clips, are learned so
that, for a freshly initialised image ConvNet (width 128, instance norm), the gradient of the
cross-entropy on the synthetic images of each class matches that on real frames of the class
(DC's layer-wise distance). Within one iteration the network is trained on the synthetic images
between matching steps (DC's outer/inner loops). The artifact stores one float32 image per
instance, so it is ~1/T of a pixel method's storage.

``learn_static_images`` and ``random_frames`` are public: the VDSD plugin learns its static memory
with them, as the authors learn VDSD's static stage with DC (``--path_static``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import vddbench

from .dc import DIS_METRICS, ConvNet, distance_wb, get_loops, match_loss

__all__ = ["StaticDC", "learn_static_images", "random_frames", "ConvNet", "distance_wb", "get_loops",
           "match_loss"]

BATCH_TRAIN = 256  # DC's --batch_train: minibatch of the inner loop's training on the synthetic images


def random_frames(clips: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One random frame of each clip: ``(n, 3, T, H, W) -> (n, 3, H, W)``."""
    t = torch.randint(clips.shape[2], (len(clips),), generator=generator)
    return clips[torch.arange(len(clips)), :, t]


def _fresh_network(num_classes: int, height: int, width: int, generator: torch.Generator, device,
                   net_width: int, net_depth: int) -> ConvNet:
    """A randomly initialised ConvNet (PyTorch's default init), seeded from ``generator``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
        net = ConvNet(num_classes, height, width, net_width, net_depth)
    return net.to(device)


def _real_frames(task: vddbench.DistillTask, label: int, n: int, generator: torch.Generator) -> torch.Tensor:
    """``min(n, class size)`` distinct random clips of class ``label``, one random frame each."""
    members = task.train.indices_of(label)
    pick = members[torch.randperm(len(members), generator=generator)[:n]].sort().values
    return random_frames(task.train.clips(pick), generator).to(task.device)


def learn_static_images(task: vddbench.DistillTask, images: torch.Tensor, iterations: int,
                        lr_img: float = 0.1, momentum: float = 0.5, lr_net: float = 0.01,
                        outer_loop: int = 1, inner_loop: int = 1, batch_real: int = 256,
                        trace: list[float] | None = None, *, dis_metric: str = "ours",
                        net_width: int = 128, net_depth: int = 3,
                        generator: torch.Generator | None = None) -> torch.Tensor:
    """DC on single frames: images ``(classes, n, 3, H, W)`` -> learned images (same shape, on CPU).

    Each iteration draws a fresh ConvNet; ``outer_loop`` times: for every class, the DC distance
    between the gradient of the cross-entropy on ``batch_real`` real frames (a random frame of random
    clips of the class) and on the class's synthetic images; one SGD step (``lr_img``, ``momentum``)
    on the images; then, except after the last, ``inner_loop`` epochs of SGD (``lr_net``) of the
    network on the synthetic images. ``trace`` gets each iteration's mean distance per class and
    outer step (DC's ``loss_avg``). Randomness comes from ``generator`` (default: the task's
    generator at offset 2).
    """
    if dis_metric not in DIS_METRICS:
        raise vddbench.DistillerError(f"static-dc: dis_metric should be one of {DIS_METRICS}; got {dis_metric!r}")
    classes, ipc = images.shape[:2]
    height, width = images.shape[-2:]
    g = task.generator(offset=2) if generator is None else generator
    syn = images.detach().clone().to(task.device).requires_grad_(True)
    optimizer_img = torch.optim.SGD([syn], lr=lr_img, momentum=momentum)
    labels = torch.arange(classes, device=task.device)
    for _ in range(iterations):
        net = _fresh_network(classes, height, width, g, task.device, net_width, net_depth)
        net.train()
        params = list(net.parameters())
        optimizer_net = torch.optim.SGD(params, lr=lr_net)  # DC: plain SGD, no momentum
        total = 0.0
        for ol in range(outer_loop):
            optimizer_img.zero_grad(set_to_none=True)
            for c in range(classes):
                real = _real_frames(task, c, batch_real, g)
                loss_real = F.cross_entropy(net(real), labels[c].expand(len(real)))
                gw_real = [gr.detach() for gr in torch.autograd.grad(loss_real, params)]
                loss_syn = F.cross_entropy(net(syn[c]), labels[c].expand(ipc))
                gw_syn = torch.autograd.grad(loss_syn, params, create_graph=True)
                dis = match_loss(gw_syn, gw_real, dis_metric)
                # DC sums the classes' distances, then steps once; backward per class gives the
                # same gradient on the images and frees each class's double-backward graph early.
                dis.backward()
                total += dis.item()
            optimizer_img.step()
            if ol == outer_loop - 1:
                break
            _train_on_synthetic(net, optimizer_net, syn.detach().flatten(0, 1),
                                labels.repeat_interleave(ipc), inner_loop, g)
        if trace is not None:
            trace.append(total / (classes * outer_loop))
    return syn.detach().cpu()


def _train_on_synthetic(net, optimizer, x, y, epochs: int, generator: torch.Generator) -> None:
    """DC's inner loop: ``epochs`` shuffled epochs (minibatch 256) of cross-entropy SGD on the
    (detached) synthetic images, no augmentation."""
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator).to(x.device)
        for batch in order.split(BATCH_TRAIN):
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(net(x[batch]), y[batch]).backward()
            optimizer.step()


class StaticDC(vddbench.Distiller):
    """DC on single frames; each learned image is repeated over the clip's T frames at evaluation.

    iterations: DC iterations (a fresh ConvNet each); 1,000 in DC.
    lr_img, momentum: SGD on the images; 0.1 and 0.5 in DC.
    lr_net: SGD learning rate of the network in the inner loop; 0.01 in DC.
    outer_loop, inner_loop: matching steps per iteration and network epochs between them; ``None``
        takes DC's table for the IPC (1/1 at IPC 1 and 5, 10/50 at IPC 10, ...).
    batch_real: real frames per class per matching step; 256 in DC.
    init: ``"real"`` (a random frame of ``random``'s clips for the seed) or ``"noise"`` (N(0, 1)).
    dis_metric: ``"ours"`` (DC's layer-wise distance), ``"mse"`` or ``"cos"`` (DC's ablations).
    net_width, net_depth: the ConvNet; 128 and 3 in DC and VDSD.
    """

    name = "static-dc"
    tags = vddbench.DistillerTags()
    # The embedded grid must run in minutes on two CPU cores; see README.md for how these were chosen.
    protocol_defaults = {
        "embedded": {"iterations": 25, "batch_real": 16, "outer_loop": 1, "inner_loop": 1},
        "smoke": {"iterations": 2, "batch_real": 4},
    }

    def __init__(self, iterations: int = 1000, lr_img: float = 0.1, momentum: float = 0.5, lr_net: float = 0.01,
                 outer_loop: int | None = None, inner_loop: int | None = None, batch_real: int = 256,
                 init: str = "real", dis_metric: str = "ours", net_width: int = 128, net_depth: int = 3):
        self.iterations = iterations
        self.lr_img = lr_img
        self.momentum = momentum
        self.lr_net = lr_net
        self.outer_loop = outer_loop
        self.inner_loop = inner_loop
        self.batch_real = batch_real
        self.init = init
        self.dis_metric = dis_metric
        self.net_width = net_width
        self.net_depth = net_depth

    def _fail(self, what: str):
        raise vddbench.DistillerError(f"distiller 'static-dc' {what}")

    def loops(self, ipc: int) -> tuple[int, int]:
        """``(outer_loop, inner_loop)`` for ``ipc``: the hyper-parameters, else DC's table."""
        outer, inner = get_loops(ipc)
        return (outer if self.outer_loop is None else self.outer_loop,
                inner if self.inner_loop is None else self.inner_loop)

    def initial_images(self, task: vddbench.DistillTask) -> torch.Tensor:
        """``(classes, ipc, 3, H, W)``: a random frame of each of ``random``'s clips, or noise."""
        shape = (task.num_classes, task.ipc, 3, task.clip.height, task.clip.width)
        if self.init == "noise":
            return torch.randn(shape, generator=task.generator(offset=1))
        g = task.generator(offset=1)
        return torch.stack([random_frames(task.train.clips(idx), g) for idx in task.random_real_indices()])

    def distill(self, task: vddbench.DistillTask, trace: list[float] | None = None) -> vddbench.Artifact:
        """Run DC on frames. If ``trace`` is a list, each iteration's mean matching distance is appended."""
        if self.init not in ("real", "noise"):
            self._fail(f"should get init 'real' or 'noise'; got {self.init!r}")
        if self.dis_metric not in DIS_METRICS:
            self._fail(f"should get dis_metric in {DIS_METRICS}; got {self.dis_metric!r}")
        outer, inner = self.loops(task.ipc)
        if self.iterations < 0 or self.batch_real < 1 or outer < 1 or inner < 0:
            self._fail(f"should get iterations >= 0, batch_real >= 1, outer_loop >= 1, inner_loop >= 0; got "
                       f"{self.iterations}, {self.batch_real}, {outer}, {inner}")
        images = learn_static_images(task, self.initial_images(task), self.iterations, self.lr_img, self.momentum,
                                     self.lr_net, outer, inner, self.batch_real, trace, dis_metric=self.dis_metric,
                                     net_width=self.net_width, net_depth=self.net_depth)
        labels = torch.arange(task.num_classes).repeat_interleave(task.ipc)
        return vddbench.Artifact({"images": images.flatten(0, 1).contiguous(), "labels": labels},
                                 {"method": "static-dc", "frames": str(task.clip.frames)})

    def expand(self, artifact: vddbench.Artifact) -> vddbench.DistilledVideos:
        """Each stored image ``(3, H, W)`` repeated over the clip's frames: videos ``(N, 3, T, H, W)``."""
        images, frames = artifact.tensors["images"], int(artifact.metadata["frames"])
        videos = images.unsqueeze(2).expand(-1, -1, frames, -1, -1).contiguous()
        return vddbench.DistilledVideos(videos, artifact.tensors["labels"])


@vddbench.hookimpl
def register_distillers(register):
    register(StaticDC)
