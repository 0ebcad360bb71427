"""VST-UNet (Video Spatio-Temporal U-Net; paper 003, section 3.1, Algorithm 1), a vddbench distiller.

A U-Net that sees all candidate clips of a class at once (their latent features) scores them; it is
trained, class by class and epoch by epoch, on cross-entropy + lambda_d * diversity +
lambda_r * representativeness of its current top-IPC selection (Eq. 1-3), then keeps the top-IPC
clips of each class by score. The artifact stores the selected clips themselves (uint8) and their
labels: only what is selected is counted.
"""

from __future__ import annotations

import torch

import vddbench
from vddbench import apply_model as apply
from vddbench import candidate_pool, user_model
from vddbench import model_name as teacher_name

from .latent import FIRST_STAGE_STRIDE, first_stage, pool_to_stride, principal_channels, project
from .unet import SelectionUNet, pairwise, selection_losses


def paper_lambdas(ipc: int) -> tuple[float, float]:
    """(lambda_r, lambda_d) of 003 §4: 0.1, 0 at VPC 1 (diversity needs two clips); 1, 0.1 above."""
    return (0.1, 0.0) if ipc == 1 else (1.0, 0.1)


class VSTUNet(vddbench.Distiller):
    """VST-UNet: a spatio-temporal U-Net over all candidates of a class, trained with CE + diversity +
    representativeness on its top-IPC selection (straight-through); top-IPC by score (003 §3.1)."""

    name = "vst-unet"
    tags = vddbench.DistillerTags(needs_teacher=True)
    protocol_defaults = {
        "embedded": {"epochs": 10, "lr": 0.01, "width": 8},
        "smoke": {"epochs": 3, "lr": 0.01, "width": 4},
    }

    def __init__(self, candidates: str = "train", candidates_per_class: int | None = 100,
                 autoencoder: str = "teacher", latent_stride: int = 8, latent_channels: int = 4,
                 width: int = 16, epochs: int = 100, lr: float = 0.001,
                 lambda_r: float | None = None, lambda_d: float | None = None):
        self.candidates = candidates  # "train" or a folder of clips, one sub-folder per class
        self.candidates_per_class = candidates_per_class  # the paper generates N_c = 100 per class
        self.autoencoder = autoencoder  # "teacher", "module:callable" or a TorchScript file
        self.latent_stride = latent_stride  # the paper's s: 256 px -> 32
        self.latent_channels = latent_channels  # the paper's latent has 4 channels
        self.width = width  # U-Net channels at the first level (2x at the second)
        self.epochs = epochs  # E_s of Algorithm 1
        self.lr = lr  # Adam
        self.lambda_r = lambda_r  # None: the paper's value for the IPC (paper_lambdas)
        self.lambda_d = lambda_d
        if autoencoder != "teacher":
            self.tags = vddbench.DistillerTags(needs_teacher=False)
        self._check_values()  # a bad value stops `vddbench run` before any work

    def _check_values(self) -> None:
        # None (candidates_per_class, lambda_r, lambda_d): every candidate, the paper's value for the IPC
        least = {"latent_stride": 1, "latent_channels": 1, "width": 1, "epochs": 0, "candidates_per_class": 1,
                 "lambda_r": 0, "lambda_d": 0}
        for name, bound in least.items():
            value = getattr(self, name)
            if value is not None and value < bound:
                raise vddbench.DistillerError(f"distiller '{self.name}': {name} should be >= {bound}; got {value}")
        if self.lr <= 0:
            raise vddbench.DistillerError(f"distiller '{self.name}': lr should be > 0; got {self.lr}")

    # -- latents -------------------------------------------------------------------------------
    def _latents(self, task, pool, index) -> tuple[torch.Tensor, str]:
        if self.autoencoder == "teacher":
            teacher = task.teacher()
            z = apply(self.name, lambda x: first_stage(teacher, x), pool, index, task.device)
            z = pool_to_stride(z, task.clip.height, task.clip.width, self.latent_stride)
            if z.shape[1] > self.latent_channels:
                z = project(z, principal_channels(z, self.latent_channels))
            desc = (f"protocol teacher's first stage ({teacher_name(teacher)} trained on the training split; "
                    f"stride-{FIRST_STAGE_STRIDE} features average-pooled to stride {self.latent_stride}, "
                    f"{self.latent_channels} principal channels), the stand-in for the pretrained autoencoder")
        else:
            fn, desc = user_model(self.name, self.autoencoder, task.device)
            z = apply(self.name, fn, pool, index, task.device)
            if z.dim() != 5:
                raise vddbench.DistillerError(f"distiller '{self.name}' should get latents (n, C, T, h, w) from "
                                              f"its autoencoder; got shape {tuple(z.shape)}")
        z = z - z.mean(dim=(0, 2, 3, 4), keepdim=True)
        return z / z.std().clamp_min(1e-8), desc

    # -- Algorithm 1 -----------------------------------------------------------------------------
    def distill(self, task: vddbench.DistillTask, trace: list[float] | None = None) -> vddbench.Artifact:
        """Algorithm 1; if ``trace`` is a list, each epoch's objective (mean over classes) is appended."""
        pool, members, pool_desc = candidate_pool(self.name, self.candidates, task, self.candidates_per_class,
                                                  task.generator(offset=1))
        everything = torch.cat(members)
        z, latent_desc = self._latents(task, pool, everything)
        lam_r, lam_d = paper_lambdas(task.ipc)
        lam_r = lam_r if self.lambda_r is None else self.lambda_r
        lam_d = lam_d if self.lambda_d is None else self.lambda_d

        bounds = torch.tensor([0] + [len(m) for m in members]).cumsum(0).tolist()
        classes = [(z[a:b].to(task.device), *pairwise(z[a:b].flatten(1).to(task.device)))
                   for a, b in zip(bounds[:-1], bounds[1:])]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(torch.randint(0, 2**62, (1,), generator=task.generator(offset=2))))
            net = SelectionUNet(z.shape[1], self.width, task.num_classes).to(task.device)
        optimizer = torch.optim.Adam(net.parameters(), lr=self.lr)
        net.train()
        last = {}
        for _ in range(self.epochs):
            objective = 0.0
            for label, (latents, cosine, distance) in enumerate(classes):
                _, scores, logits = net(latents)
                losses = selection_losses(scores, logits, label, cosine, distance, task.ipc)
                loss = losses["ce"] + lam_d * losses["div"] + lam_r * losses["rep"]
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                last[label] = {k: float(v.detach()) for k, v in losses.items()}
                objective += float(loss.detach())
            if trace is not None:
                trace.append(objective / len(classes))

        net.eval()
        chosen = []
        with torch.no_grad():
            for label_members, (latents, _, _) in zip(members, classes):
                _, scores, _ = net(latents)
                chosen.append(label_members[scores.cpu().topk(task.ipc).indices.sort().values])
        index = torch.cat(chosen)
        mean = {k: sum(v[k] for v in last.values()) / max(1, len(last)) for k in ("ce", "div", "rep")}
        params = sum(p.numel() for p in net.parameters())
        return vddbench.Artifact(
            {"videos_uint8": pool.raw(index), "labels": pool.labels[index]},
            {"candidates": pool_desc, "autoencoder": latent_desc,
             "unet": f"widths {self.width}/{2 * self.width}, {params} parameters, latents {tuple(z.shape[1:])}",
             "loss": f"lambda_r {lam_r:g}, lambda_d {lam_d:g}; last epoch mean ce {mean['ce']:.4f} "
                     f"div {mean['div']:.4f} rep {mean['rep']:.4f}"})


@vddbench.hookimpl
def register_distillers(register):
    register(VSTUNet)
