"""Static-DC: dataset condensation with gradient matching (DC; Zhao, Mopuri, Bilen, ICLR 2021) on
single frames, each learned image repeated over time at evaluation (the "boring video" baseline of
the video-distillation papers, and the static stage of VDSD, "Dancing with Still Images", CVPR 2024).

IPC still images per class, initialised from a random frame of ``random``'s clips, are learned so
that, for a freshly initialised image ConvNet (width 128, instance norm), the gradient of the
cross-entropy on the synthetic images of each class matches that on real frames of the class
(DC's layer-wise distance). Within one iteration the network is trained on the synthetic images
between matching steps (DC's outer/inner loops). The artifact stores one float32 image per
instance, so it is ~1/T of a pixel method's storage.

``static_dc_images`` is public: the VDSD plugin takes its static memory from it, as the authors load
a Static-DC run as VDSD's static stage (``--path_static``). Under the harness the images are a cached
input (``static-dc-images``, registered here): built once per dataset, seed, IPC and hyper-parameters
and shared by ``static-dc`` and every VDSD distiller that asks with the same ones.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import vddbench

from .dc import DIS_METRICS, ConvNet, distance_wb, get_loops, match_loss

__all__ = ["StaticDC", "STATIC_IMAGES", "static_dc_images", "learn_static_images", "initial_images",
           "random_frames", "ConvNet", "distance_wb", "get_loops", "match_loss"]

BATCH_TRAIN = 256  # DC's --batch_train: minibatch of the inner loop's training on the synthetic images
STATIC_IMAGES = "static-dc-images"  # the cached input's kind


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


def initial_images(task: vddbench.DistillTask, init: str = "real") -> torch.Tensor:
    """``(classes, IPC, 3, H, W)``: a random frame of each of ``random``'s clips, or N(0, 1) noise."""
    g = task.generator(offset=1)
    if init == "noise":
        return torch.randn((task.num_classes, task.ipc, 3, task.clip.height, task.clip.width), generator=g)
    return torch.stack([random_frames(task.train.clips(idx), g) for idx in task.random_real_indices()])


def static_dc_images(task: vddbench.DistillTask, iterations: int, lr_img: float = 0.1, momentum: float = 0.5,
                     lr_net: float = 0.01, outer_loop: int | None = None, inner_loop: int | None = None,
                     batch_real: int = 256, init: str = "real", dis_metric: str = "ours", net_width: int = 128,
                     net_depth: int = 3, trace: list[float] | None = None) -> torch.Tensor:
    """What Static-DC learns for ``task``: images ``(classes, IPC, 3, H, W)`` on the CPU, started from
    :func:`initial_images` and learned by :func:`learn_static_images` (``outer_loop`` / ``inner_loop``
    None: DC's table for the IPC).

    Where the task has cached inputs (every harness run, the conformance kit) the images are the
    cached input ``static-dc-images``: built once per dataset, seed, IPC and these hyper-parameters,
    and shared by every cell that asks with the same ones (``static-dc`` and VDSD's static stage);
    the numbers are the same either way. A ``trace`` (each iteration's distance) needs the run
    itself, so it is always computed here."""
    outer, inner = get_loops(task.ipc)
    options = {"ipc": task.ipc, "iterations": iterations, "lr_img": lr_img, "momentum": momentum, "lr_net": lr_net,
               "outer_loop": outer if outer_loop is None else outer_loop,
               "inner_loop": inner if inner_loop is None else inner_loop, "batch_real": batch_real, "init": init,
               "dis_metric": dis_metric, "net_width": net_width, "net_depth": net_depth}
    if trace is None and task.input_factory is not None:
        return task.cached(STATIC_IMAGES, **options)["images"]
    return _learn(task, options, trace)


def _learn(task: vddbench.DistillTask, options: dict, trace: list[float] | None = None) -> torch.Tensor:
    o = options
    return learn_static_images(task, initial_images(task, o["init"]), o["iterations"], o["lr_img"], o["momentum"],
                               o["lr_net"], o["outer_loop"], o["inner_loop"], o["batch_real"], trace,
                               dis_metric=o["dis_metric"], net_width=o["net_width"], net_depth=o["net_depth"])


def _build_static_images(context: vddbench.BuildContext, options: dict) -> dict[str, torch.Tensor]:
    """The cached input: the task a cell of IPC ``options["ipc"]`` gets, and Static-DC run on it."""
    spec = context.spec
    task = vddbench.DistillTask(train=context.train, num_classes=spec.num_classes, ipc=options["ipc"],
                                seed=context.seed, clip=spec.clip, dataset=spec.name, device=context.device)
    return {"images": _learn(task, options)}


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
    tags = vddbench.DistillerTags(cached_inputs=(STATIC_IMAGES,))
    # The embedded grid must run in minutes on two CPU cores; see README.md for how these were chosen.
    protocol_defaults = {
        "embedded": {"iterations": 50, "batch_real": 16, "outer_loop": 1, "inner_loop": 1},
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
        self._check_values()  # a bad value stops `vddbench run` before any work

    def _fail(self, what: str):
        raise vddbench.DistillerError(f"distiller 'static-dc' {what}")

    def _check_values(self) -> None:
        if self.init not in ("real", "noise"):
            self._fail(f"should get init 'real' or 'noise'; got {self.init!r}")
        if self.dis_metric not in DIS_METRICS:
            self._fail(f"should get dis_metric in {DIS_METRICS}; got {self.dis_metric!r}")
        if self.iterations < 0 or self.batch_real < 1:
            self._fail(f"should get iterations >= 0 and batch_real >= 1; got {self.iterations}, {self.batch_real}")
        for name, least in (("outer_loop", 1), ("inner_loop", 0)):  # None: DC's table for the IPC
            value = getattr(self, name)
            if value is not None and value < least:
                self._fail(f"should get {name} None or >= {least}; got {value}")

    def loops(self, ipc: int) -> tuple[int, int]:
        """``(outer_loop, inner_loop)`` for ``ipc``: the hyper-parameters, else DC's table."""
        outer, inner = get_loops(ipc)
        return (outer if self.outer_loop is None else self.outer_loop,
                inner if self.inner_loop is None else self.inner_loop)

    def distill(self, task: vddbench.DistillTask, trace: list[float] | None = None) -> vddbench.Artifact:
        """Run DC on frames. If ``trace`` is a list, each iteration's mean matching distance is appended."""
        outer, inner = self.loops(task.ipc)
        images = static_dc_images(task, self.iterations, self.lr_img, self.momentum, self.lr_net, outer, inner,
                                  self.batch_real, self.init, self.dis_metric, self.net_width, self.net_depth, trace)
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


@vddbench.hookimpl
def register_cached_inputs(register):
    register(vddbench.CachedInput(STATIC_IMAGES, "Static-DC's learned images for one IPC and set of hyper-parameters "
                                                 "(static-dc; VDSD's static stage)", _build_static_images))
