"""Expert trajectories, the second kind of cached input: what MTT-style methods match.

VDSD's ``buffer.py`` recipe (``sh/baseline/buffer.sh``): experts of the protocol student, each with
its own seed, trained on the whole training split with SGD (lr 0.01, no momentum, no weight decay,
batch 256, shuffled, no augmentation), parameters saved at the start and after every epoch. Each
expert is a cached input of its own, so a distiller that uses the first 5 of the protocol's 30
experts builds only those, and expert ``i`` is the same whoever asks. Only the snapshots a
distiller can start from are built and kept (``epochs`` = its max start epoch + expert epochs):
training further would change nothing before them, since the recipe has no lr schedule.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch

from ..data.stream import stream
from ..device import forked_rng
from ..evaluate import soft_cross_entropy
from ..protocol import ExpertRecipe
from ..seeding import stable_seed
from ..students import build_student
from . import BuildContext, CachedInput, Tensors


@dataclass
class ExpertTrajectories:
    """``params[e, k]``: expert ``e``'s parameters after ``k`` epochs, flattened in
    ``named_parameters()`` order (``names``, ``shapes``); ``lr`` is the experts' learning rate."""

    params: torch.Tensor  # (experts, epochs + 1, P) float32
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    lr: float

    def unflatten(self, flat: torch.Tensor) -> dict[str, torch.Tensor]:
        """``name -> view of flat``, for ``torch.func.functional_call(student, params, (x,))``."""
        out, start = {}, 0
        for name, shape in zip(self.names, self.shapes):
            size = math.prod(shape)
            out[name] = flat[start:start + size].view(shape)
            start += size
        return out

    @staticmethod
    def flatten(module: torch.nn.Module) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in module.parameters()])


def build_expert(context: BuildContext, options: dict[str, Any]) -> Tensors:
    """Expert ``options["expert"]``'s snapshots after 0..``options["epochs"]`` epochs: ``params``
    ``(epochs + 1, P)``."""
    recipe = context.protocol.expert_recipe
    arch, index, epochs = options["arch"], options["expert"], options["epochs"]
    seed = stable_seed("expert", context.seed, arch, index)
    spec, train = context.spec, context.train
    model = build_student(arch, spec.num_classes, spec.clip, seed).to(context.device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                weight_decay=recipe.weight_decay)
    order_rng = torch.Generator().manual_seed(seed)
    n, batch = len(train), recipe.batch_size
    snapshots = [ExpertTrajectories.flatten(model).cpu()]
    with forked_rng(context.device):  # dropout, if any: the same whichever cell builds it
        torch.manual_seed(seed)
        for _ in range(epochs):
            order = torch.randperm(n, generator=order_rng)
            for x, y in stream(train, (order[i:i + batch] for i in range(0, n, batch)), context.device):
                loss = soft_cross_entropy(model(x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
            snapshots.append(ExpertTrajectories.flatten(model).cpu())
    return {"params": torch.stack(snapshots)}


def expert_options(arch: str, index: int, epochs: int, recipe: ExpertRecipe) -> dict[str, Any]:
    return {"arch": arch, "expert": index, "epochs": epochs, "recipe": asdict(recipe)}


EXPERTS = CachedInput("expert-trajectories", "protocol students trained on the training split, saved every "
                      "epoch (task.expert_trajectories())", build_expert)
