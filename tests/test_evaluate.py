import torch

from vddbench.distiller import DistilledVideos
from vddbench.evaluate import score, soft_cross_entropy, train_student
from vddbench.plugins import get_registry
from vddbench.protocol import EvalRecipe
from vddbench.students import build_student


def _data(smoke):
    spec = smoke.datasets[0]
    src = get_registry().datasets["moving-shapes"].obj
    train, test = src.load(spec, "train"), src.load(spec, "test")
    return spec, DistilledVideos(train.clips(slice(0, 20)), train.labels[:20]), test


def test_training_is_deterministic_for_a_seed(smoke):
    spec, data, test = _data(smoke)
    runs = []
    for _ in range(2):
        model = build_student("convnet3d", 10, spec.clip, seed=3)
        train_student(model, data, EvalRecipe(epochs=3, lr=0.03, batch_size=8), seed=5)
        runs.append((score(model, test), next(model.parameters()).detach().clone()))
    assert runs[0][0] == runs[1][0] and torch.equal(runs[0][1], runs[1][1])


def test_soft_labels_train_and_match_hard_cross_entropy_on_one_hot():
    logits = torch.randn(4, 5)
    hard = torch.tensor([0, 1, 2, 3])
    assert torch.allclose(soft_cross_entropy(logits, hard),
                          soft_cross_entropy(logits, torch.nn.functional.one_hot(hard, 5).float()))


def test_score_reports_top1_and_top5_on_the_whole_test_split(smoke):
    spec, _, test = _data(smoke)
    model = build_student("convnet3d", 10, spec.clip, seed=0)
    metrics = score(model, test)
    assert set(metrics) == {"top1", "top5"} and 0 <= metrics["top1"] <= metrics["top5"] <= 100
    assert (metrics["top1"] * len(test) / 100) % 1 < 1e-9  # a count of clips, so every clip was scored


def test_augmentation_hook_is_applied_to_every_batch(smoke):
    spec, data, _ = _data(smoke)
    calls = []

    def augment(x, y, generator):
        calls.append(len(x))
        return x, y

    train_student(build_student("convnet3d", 10, spec.clip, 0), data, EvalRecipe(epochs=2, batch_size=8), 0, augment)
    assert calls == [8, 8, 4, 8, 8, 4]


def test_grad_clip_bounds_each_update_by_lr_times_the_clip(smoke):
    spec, data, _ = _data(smoke)

    def first_update(grad_clip):
        model = build_student("convnet3d", 10, spec.clip, seed=3)
        before = torch.cat([p.detach().flatten().clone() for p in model.parameters()])
        recipe = EvalRecipe(steps=1, lr=1.0, momentum=0.0, weight_decay=0.0, batch_size=20, grad_clip=grad_clip)
        train_student(model, data, recipe, seed=5)
        return (torch.cat([p.detach().flatten() for p in model.parameters()]) - before).norm().item()

    assert first_update(1e-3) <= 1e-3 * (1 + 1e-4) < first_update(None)
