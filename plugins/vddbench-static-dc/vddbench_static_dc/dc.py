"""DC's pieces, as in the reference code (DC's ``utils.py``, copied into VDSD's ``utils.py`` and
``networks.py``): the image ConvNet, the layer-wise gradient distance and the loop table."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ConvNet", "distance_wb", "get_loops", "match_loss", "DIS_METRICS"]

DIS_METRICS = ("ours", "mse", "cos")

# DC's get_loops (VDSD's copy, which adds IPC 5): IPC -> (outer_loop, inner_loop).
_LOOPS = {1: (1, 1), 5: (1, 1), 10: (10, 50), 20: (20, 25), 30: (30, 20), 40: (40, 15), 50: (50, 10)}


def get_loops(ipc: int) -> tuple[int, int]:
    """DC's ``(outer_loop, inner_loop)`` for ``ipc``. The reference exits for IPCs outside its table;
    here an IPC between two entries takes the entry of the largest tabulated IPC below it."""
    return _LOOPS[max(k for k in _LOOPS if k <= max(ipc, 1))]


class ConvNet(nn.Module):
    """DC's image ConvNet (VDSD ``get_network('ConvNet')``): ``depth`` x [Conv2d 3x3 (padding 1),
    instance norm (``GroupNorm(width, width)``), ReLU, AvgPool2d 2], then one linear layer on the
    flattened feature map. Width 128, depth 3 (``get_default_convnet_setting``)."""

    def __init__(self, num_classes: int, height: int, width: int, net_width: int = 128, net_depth: int = 3,
                 channel: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        c, h, w = channel, height, width
        for _ in range(net_depth):
            layers += [nn.Conv2d(c, net_width, kernel_size=3, padding=1),
                       nn.GroupNorm(net_width, net_width, affine=True), nn.ReLU(inplace=True),
                       nn.AvgPool2d(kernel_size=2, stride=2)]
            c, h, w = net_width, h // 2, w // 2
        if h < 1 or w < 1:
            raise ValueError(f"ConvNet of depth {net_depth} needs images of at least {2 ** net_depth} px; "
                             f"got {height}x{width}")
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c * h * w, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.embed(x))


def distance_wb(gwr: torch.Tensor, gws: torch.Tensor) -> torch.Tensor:
    """DC's distance between the real and synthetic gradient of one parameter: the sum over output
    units (rows) of ``1 - cos``. Biases and normalisation parameters (1-D) count 0, as in DC."""
    if gwr.dim() == 1:
        return torch.zeros((), dtype=gwr.dtype, device=gwr.device)
    gwr, gws = gwr.reshape(gwr.shape[0], -1), gws.reshape(gws.shape[0], -1)
    cos = (gwr * gws).sum(-1) / (gwr.norm(dim=-1) * gws.norm(dim=-1) + 1e-6)
    return (1 - cos).sum()


def match_loss(gw_syn, gw_real, dis_metric: str = "ours") -> torch.Tensor:
    """DC's gradient-matching distance (``utils.match_loss``). ``ours``: the layer-wise
    :func:`distance_wb` summed over parameters (DC's method); ``mse`` / ``cos``: on all gradients
    concatenated (DC's ablations)."""
    if dis_metric == "ours":
        return sum((distance_wb(r, s) for r, s in zip(gw_real, gw_syn)), torch.zeros((), device=gw_real[0].device))
    real = torch.cat([g.reshape(-1) for g in gw_real])
    syn = torch.cat([g.reshape(-1) for g in gw_syn])
    if dis_metric == "mse":
        return ((syn - real) ** 2).sum()
    if dis_metric == "cos":
        return 1 - (real * syn).sum() / (real.norm() * syn.norm() + 1e-6)
    raise ValueError(f"dis_metric should be one of {DIS_METRICS}; got {dis_metric!r}")
