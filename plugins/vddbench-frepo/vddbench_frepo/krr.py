"""FRePo's objective: kernel ridge regression from synthetic to real features, and its label terms."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def krr_loss(syn_features: torch.Tensor, syn_targets: torch.Tensor, real_features: torch.Tensor,
             real_targets: torch.Tensor, reg: float = 1e-6) -> torch.Tensor:
    """FRePo's loss: KRR from synthetic to real features, regulariser reg*tr(K_ss)/n_s.

    ``K_ss = F_s F_sᵀ``, ``K_rs = F_r F_sᵀ``, prediction ``K_rs (K_ss + λI)⁻¹ Y_s`` with
    ``λ = |reg|·tr(K_ss)/n_s``; the loss is the squared error summed over classes and averaged over
    the real batch (VDSD's ``MSELoss(reduction='none')(pred, y).sum(-1).mean(0)``). Shapes:
    features ``(n, D)``, targets ``(n, C)``. The solve runs in float64 (see README: with fewer
    feature dimensions than synthetic clips K_ss is rank-deficient and only λ keeps it invertible);
    the result has the features' dtype.
    """
    dtype = syn_features.dtype
    fs, fr = syn_features.double(), real_features.double()
    kss = fs @ fs.T
    krs = fr @ fs.T
    n = kss.shape[0]
    ridge = abs(reg) * torch.trace(kss) / n
    kss_reg = kss + ridge * torch.eye(n, dtype=kss.dtype, device=kss.device)
    pred = krs @ torch.linalg.solve(kss_reg, syn_targets.double())
    return (pred - real_targets.double()).pow(2).sum(-1).mean().to(dtype)


def centred_one_hot(labels: torch.Tensor, num_classes: int, scale: bool = False) -> torch.Tensor:
    """FRePo's regression targets: ``one_hot - 1/C``, divided by ``sqrt(C/10)`` when ``scale``
    (the reference scales the synthetic labels' initialisation, not the real targets)."""
    y = F.one_hot(labels, num_classes).float() - 1.0 / num_classes
    return y / math.sqrt(num_classes / 10) if scale else y


def label_margin_loss(labels: torch.Tensor) -> torch.Tensor:
    """FRePo's ``lb_margin_th``: ``-min(top1 - top2, 1/C)`` per row, averaged. Keeps each learned
    label's largest entry at least 1/C above the next one, and is flat beyond that margin."""
    top = labels.topk(2, dim=-1).values
    margin = torch.clamp(top[:, 0] - top[:, 1], max=1.0 / labels.shape[-1])
    return -margin.mean()


def label_probabilities(values: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Learned label values -> probability vectors: ``softmax(values / temperature)``, the map of
    FRePo's own ``softxent`` evaluation (``script/eval.py``: ``y_proto / temperature``, then
    ``soft_cross_entropy_loss``'s ``softmax(labels)``). Rows sum to 1."""
    return torch.softmax(values.double() / temperature, dim=-1).float()
