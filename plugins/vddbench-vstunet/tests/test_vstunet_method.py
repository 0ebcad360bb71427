"""VST-UNet's defining behaviour: Eq. 1-3 on the top-k, a gradient through the selection, the
U-Net over a whole class, the paper's lambdas, the latent stand-in."""

import math
import textwrap

import numpy as np
import pytest
import torch

import vddbench
from vddbench_vstunet import VSTUNet, paper_lambdas
from vddbench_vstunet.latent import first_stage
from vddbench_vstunet.unet import SelectionUNet, pairwise, selection_losses

pytestmark = pytest.mark.usefixtures("vddbench_one_thread")  # as the harness runs a cell



def toy_class(n=12, d=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    return x, *pairwise(x)


def test_forward_values_are_the_papers_losses_on_the_top_k():
    x, cosine, distance = toy_class()
    scores = torch.randn(len(x), generator=torch.Generator().manual_seed(1))
    logits = torch.randn(len(x), 5, generator=torch.Generator().manual_seed(2))
    k = 4
    losses = selection_losses(scores, logits, 3, cosine, distance, k)
    chosen = scores.topk(k).indices
    # Eq. 1: mean cosine similarity over ordered pairs of distinct selected clips
    pairs = [(t, i) for t in chosen for i in chosen if t != i]
    div = sum(float(torch.nn.functional.cosine_similarity(x[t], x[i], dim=0)) for t, i in pairs) / (k * (k - 1))
    assert float(losses["div"]) == pytest.approx(div, abs=1e-5)
    # Eq. 2 (a reward): exp(-mean over all clips of the MSE to the nearest selected clip); loss = 1 - reward
    nearest = torch.stack([((x[t] - x[chosen]) ** 2).mean(1).min() for t in range(len(x))]).mean()
    assert float(losses["rep"]) == pytest.approx(1 - math.exp(-float(nearest)), abs=1e-5)
    ce = torch.nn.functional.cross_entropy(logits[chosen], torch.full((k,), 3))
    assert float(losses["ce"]) == pytest.approx(float(ce), abs=1e-5)


@pytest.mark.parametrize("term", ["ce", "div", "rep"])
def test_the_selection_gradient_is_non_zero(term):
    x, cosine, distance = toy_class()
    scores = torch.randn(len(x), generator=torch.Generator().manual_seed(1), requires_grad=True)
    logits = torch.randn(len(x), 5, generator=torch.Generator().manual_seed(2))
    losses = selection_losses(scores, logits, 3, cosine, distance, k=4)
    losses[term].backward()
    grad = scores.grad
    assert torch.isfinite(grad).all() and grad.abs().sum() > 1e-6
    outside = torch.ones(len(x), dtype=torch.bool)
    outside[scores.detach().topk(4).indices] = False
    assert grad[outside].abs().sum() > 1e-6  # clips outside the top-k get a signal too
    # the same loss on the plain hard top-k does not depend on the scores at all: the
    # straight-through estimator is what carries the gradient
    hard = torch.zeros(len(x))
    hard[scores.topk(4).indices] = 1
    assert not (hard[:, None] * hard[None, :] * cosine).sum().requires_grad


def test_lower_diversity_loss_pulls_a_dissimilar_clip_into_the_selection():
    # two near-duplicates selected, a third clip orthogonal to them just below the cut
    x = torch.tensor([[1.0, 0.0], [0.99, 0.05], [0.0, 1.0], [0.9, 0.1]])
    cosine, distance = pairwise(x)
    scores = torch.tensor([2.0, 1.9, 1.0, 0.5], requires_grad=True)
    selection_losses(scores, torch.zeros(4, 3), 0, cosine, distance, k=2)["div"].backward()
    assert scores.grad[2] < 0 < scores.grad[1]  # descending raises clip 2, lowers the duplicate


def test_the_unet_scores_a_clip_in_the_context_of_its_whole_class():
    torch.manual_seed(0)
    net = SelectionUNet(in_channels=4, width=4, num_classes=3).eval()
    z = torch.randn(6, 4, 8, 3, 3)
    f, scores, logits = net(z)
    assert f.shape == (6, 4) and scores.shape == (6,) and logits.shape == (6, 3)
    _, scores_other_class, _ = net(torch.cat([z[:3], torch.randn(3, 4, 8, 3, 3)]))
    assert not torch.allclose(scores[:3], scores_other_class[:3])  # same clips, other companions
    perm = torch.tensor([5, 4, 3, 2, 1, 0])
    _, permuted, _ = net(z[perm])
    assert torch.allclose(permuted, scores[perm], atol=1e-6)  # the clips of a class have no order


def test_lambdas_follow_the_paper_and_are_recorded(vddbench_task):
    assert paper_lambdas(1) == (0.1, 0.0) and paper_lambdas(5) == paper_lambdas(10) == (1.0, 0.1)
    artifact = VSTUNet(epochs=1, width=4).distill(vddbench_task(ipc=2))
    assert artifact.metadata["loss"].startswith("lambda_r 1, lambda_d 0.1")
    assert "protocol teacher's first stage (convnet3d" in artifact.metadata["autoencoder"]
    assert "latents (4, 8, 2, 2)" in artifact.metadata["unet"]  # 16 px / stride 8, 4 channels, all 8 frames


def test_the_trace_holds_each_epochs_objective_and_leaves_the_selection_alone(clip_as_latent, vddbench_task):
    task = vddbench_task(ipc=2)
    kwargs = dict(autoencoder=clip_as_latent, width=4, epochs=3)
    trace: list[float] = []
    traced = VSTUNet(**kwargs).distill(task, trace=trace)
    assert len(trace) == 3 and all(math.isfinite(v) for v in trace)
    assert torch.equal(traced.tensors["videos_uint8"], VSTUNet(**kwargs).distill(task).tensors["videos_uint8"])


def test_the_teacher_latent_stops_at_the_first_stage(vddbench_task):
    teacher = vddbench_task(ipc=1).teacher()
    ran = []
    last = [m for m in teacher.modules() if not list(m.children())][-1]
    last.register_forward_hook(lambda *a: ran.append(True))
    z = first_stage(teacher, torch.zeros(2, 3, 8, 24, 24))
    assert z.shape[0] == 2 and z.shape[2] == 8 and 24 // z.shape[-1] >= 4
    assert not ran


@pytest.fixture
def clip_as_latent(tmp_path, monkeypatch):
    """A user autoencoder given as 'module:callable': the clip downsampled 4x (16 px -> 4 x 4)."""
    (tmp_path / "toy_autoencoder.py").write_text(textwrap.dedent("""
        import torch.nn.functional as F

        def encode(videos):
            return F.avg_pool3d(videos, (1, 4, 4))
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    return "toy_autoencoder:encode"


def test_training_improves_the_representativeness_of_the_selection(clip_as_latent, vddbench_task):
    task = vddbench_task(ipc=2)
    def rep_of(artifact):
        # mean over candidates of the distance to the nearest selected clip, in the latent space
        everything = vddbench.normalize(task.train.raw(slice(0, len(task.train))))
        z = torch.nn.functional.avg_pool3d(everything, (1, 4, 4)).flatten(1)
        chosen = torch.nn.functional.avg_pool3d(vddbench.normalize(artifact.tensors["videos_uint8"]),
                                                (1, 4, 4)).flatten(1)
        labels, chosen_labels = task.train.labels, artifact.tensors["labels"]
        return float(np.mean([((z[i] - chosen[chosen_labels == labels[i]]) ** 2).mean(1).min() for i in range(len(z))]))
    kwargs = dict(autoencoder=clip_as_latent, width=4, lr=0.02, lambda_r=5.0, lambda_d=0.0)
    before = rep_of(VSTUNet(epochs=0, **kwargs).distill(task))
    after = rep_of(VSTUNet(epochs=15, **kwargs).distill(task))
    assert after < before
    assert not VSTUNet(autoencoder=clip_as_latent).tags.needs_teacher


@pytest.mark.parametrize("bad", [{"epochs": -1}, {"width": 0}, {"latent_stride": 0}, {"latent_channels": 0},
                                 {"candidates_per_class": 0}, {"lambda_r": -1.0}, {"lr": 0.0}])
def test_rejects_bad_values_when_built(bad):
    with pytest.raises(vddbench.DistillerError, match=f"distiller 'vst-unet': {next(iter(bad))} should be"):
        VSTUNet(**bad)
