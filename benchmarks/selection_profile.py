"""Profile the clips that selection distillers pick, on a validation split (never the test split).

Carves 20 clips per class from the embedded training split (``vddbench.data.validation.carve``), as
``benchmarks/tune_distiller.py`` does, builds the stand-in teacher on the rest, runs each selection
distiller on the rest (seeded as ``tune_distiller.py`` seeds it, so the picks are the clips it scores)
and finds its picks among the candidates. For every pick it measures, against the other candidates of
its class:

* ``d_teach`` / ``d_lat``: distance to the class mean in the teacher's pooled embedding / in
  ``vst-unet``'s latent (the teacher's first stage, pooled and PCA'd, as the plugin computes it),
  as the pick's within-class percentile (0 = the candidate nearest the mean, 1 = the farthest);
* ``conf``: the teacher's probability of the true class, as a percentile; ``p_true`` its raw mean and
  ``err`` the teacher's error rate on the picks (%);
* ``motion``: mean absolute frame difference (uint8 levels), as a percentile;
* the generator's per-clip nuisance, replayed from its seeded draws (``vddbench.data.moving_shapes``):
  ``speed`` (px/frame within the class's range; growth rate for the cross classes), ``size`` (the
  shape's radius), ``contrast`` (RGB distance of the shape's colour to the background's base colour)
  and ``bright`` (the background's base brightness), each as a percentile;
* per class: ``div_t`` / ``div_l``, the mean pairwise distance of the picks in the teacher embedding /
  the latent divided by the class's mean pairwise distance (1 = as spread as the class; IPC >= 2), and
  ``cover``, the mean distance of every candidate to its nearest pick in the teacher embedding divided
  by the class's mean pairwise distance (lower = the picks cover the class better);
* per class, ``vst-unet``'s own objective terms on the picks, in its latent: ``L_rep`` (Eq. 2 as the
  plugin computes it: 1 - exp(-mean over candidates of the mean squared distance to the nearest pick);
  lower = more representative) and ``L_div`` (Eq. 1: mean cosine similarity of distinct picks; IPC >= 2).

A uniformly random pick has every percentile at 0.5 in expectation. Each measure is averaged over all
picks (or classes) of a seed and printed as mean ± 95% CI over the seeds; with ``--paired`` also the
paired difference to the first distiller (``random`` by default); then the share of picks any two of the
distillers have in common. With ``--score`` each selection is also trained on with the protocol's
student and recipe and scored on the validation clips (top-1, paired with the first distiller),
``--per-class`` adds per-class validation accuracy, and the script prints, for each measure, the
correlation over all (selection, seed) pairs of its paired difference to the first distiller with the
paired difference in top-1 (Pearson r, 95% CI by Fisher's z; the pairs of one seed share the seed's
baseline, so the interval is optimistic).

With ``--rep-gradient`` it also prints, per seed, where ``vst-unet``'s relaxed representativeness
gradient pushes the scores at the start (near-uniform scores, 5 draws per class): the Spearman
correlation, within a class, of the score increase a gradient step on ``L_rep`` gives each clip with the
clip's closeness to the class mean in the latent (+1: the step raises the most central clips most).

A distiller is ``NAME`` (its embedded defaults) or ``NAME{JSON}`` (hyper-parameters over them), e.g.
``'vst-unet{"lambda_r": 0, "lambda_d": 0}'``.

    python benchmarks/selection_profile.py --ipc 10 --seeds 0 1 2 3 4 5 6 7
    python benchmarks/selection_profile.py --ipc 5 --seeds 0 1 2 --score --paired \\
        --distillers random vst-unet 'vst-unet{"epochs": 0}' 'vst-unet{"lambda_r": 0, "lambda_d": 0}'
"""

from __future__ import annotations

import argparse
import colorsys
import json
import math
import time

import numpy as np
import torch
from tune_distiller import (  # this folder
    VALIDATION_PER_CLASS,
    embedded_params,
    evaluate,
    seed_tasks,
    seeded_distill,
    trained_student,
)

from vddbench.data.moving_shapes import VERSIONS, MovingShapes, render_video
from vddbench.data.validation import carve, carve_indices
from vddbench.plugins import get_registry
from vddbench.protocols import EMBEDDED
from vddbench.runner import parse_distiller
from vddbench.stats import mean_ci, paired_difference

PICK_MEASURES = ("d_teach", "d_lat", "conf", "p_true", "err", "motion", "speed", "size", "contrast", "bright")
CLASS_MEASURES = ("div_t", "div_l", "cover", "L_rep", "L_div")


# -- what the generator drew for each clip ---------------------------------------------------------
class _Recorder:
    """Passes a numpy generator through and keeps every ``uniform`` draw, in order."""

    def __init__(self, rng: np.random.Generator):
        self.rng, self.uniform_draws = rng, []

    def normal(self, *args, **kwargs):
        return self.rng.normal(*args, **kwargs)

    def integers(self, *args, **kwargs):
        return self.rng.integers(*args, **kwargs)

    def uniform(self, *args, **kwargs):
        value = self.rng.uniform(*args, **kwargs)
        self.uniform_draws.append(value)
        return value


def nuisance(spec, split: str, index: int, label: int) -> dict[str, float]:
    """Replays ``render_video`` for clip ``index`` of the split and reads its per-clip draws:
    background base colour, two distractors (position, radius, colour), hue jitter, saturation,
    value, speed, then radius (moving shapes) or start radius (the scaling cross)."""
    from vddbench.data.moving_shapes import SPLIT_SEEDS

    version = spec.option("version", 1)
    recorder = _Recorder(np.random.default_rng([SPLIT_SEEDS[split], index]))
    render_video(label, recorder, spec.clip.frames, spec.option("draw_size") or spec.clip.height, version)
    d = recorder.uniform_draws
    classes, hues, _ = VERSIONS[version]
    shape = classes[label][0]
    background = np.asarray(d[0], dtype=float)
    colour = np.array(colorsys.hsv_to_rgb((hues[shape] + d[7]) % 1.0, d[8], d[9]))
    return {"speed": float(d[10]), "size": float(d[11]), "contrast": float(np.linalg.norm(colour - background)),
            "bright": float(background.mean())}


# -- measures --------------------------------------------------------------------------------------
def percentile(values: torch.Tensor) -> torch.Tensor:
    """Within-group rank of each value, 0 (smallest) .. 1 (largest)."""
    ranks = values.double().argsort().argsort().double()
    return ranks / max(1, len(values) - 1)


def mean_pairwise(x: torch.Tensor) -> float:
    if len(x) < 2:
        return math.nan
    d = torch.cdist(x.double(), x.double())
    return float(d.sum() / (len(x) * (len(x) - 1)))


def clip_features(task, pool) -> dict[str, torch.Tensor]:
    """Per candidate clip (in pool order): teacher embedding, teacher p(true class) and error,
    ``vst-unet``'s latent (flattened), motion."""
    teacher = task.teacher()  # built (trained) outside no_grad
    with torch.no_grad():
        return _clip_features(task, pool, teacher)


def _clip_features(task, pool, teacher) -> dict[str, torch.Tensor]:
    from vddbench_vstunet import VSTUNet

    everything = torch.arange(len(pool))
    emb, prob = [], []
    for start in range(0, len(pool), 256):
        x = pool.clips(everything[start:start + 256])
        emb.append(teacher.embed(x))
        prob.append(torch.softmax(teacher(x), 1))
    prob = torch.cat(prob)
    labels = pool.labels
    # the plugin's own latent (private method: the same computation as its distil)
    order = torch.cat([torch.nonzero(labels == c).flatten() for c in range(task.num_classes)])
    z, _ = VSTUNet()._latents(task, pool, order)
    latent = torch.empty(len(pool), z[0].numel())
    latent[order] = z.flatten(1)
    raw = pool.raw(everything).float()
    motion = (raw[:, :, 1:] - raw[:, :, :-1]).abs().mean(dim=(1, 2, 3, 4))
    p_true = prob[torch.arange(len(pool)), labels]
    return {"emb": torch.cat(emb), "latent": latent, "p_true": p_true,
            "err": (prob.argmax(1) != labels).double() * 100, "motion": motion}


def profile(picks: torch.Tensor, feats: dict[str, torch.Tensor], nuis: dict[str, torch.Tensor],
            labels: torch.Tensor, num_classes: int) -> dict[str, float]:
    """Each measure averaged over all picks (or classes) of one selection."""
    from vddbench_vstunet.unet import pairwise

    per_pick = {k: [] for k in PICK_MEASURES}
    per_class = {k: [] for k in CLASS_MEASURES}
    chosen = set(picks.tolist())
    for c in range(num_classes):
        members = torch.nonzero(labels == c).flatten()
        sel = torch.tensor([i for i, m in enumerate(members.tolist()) if m in chosen])
        emb, lat = feats["emb"][members].double(), feats["latent"][members].double()
        pct = {
            "d_teach": percentile((emb - emb.mean(0)).norm(dim=1)),
            "d_lat": percentile((lat - lat.mean(0)).norm(dim=1)),
            "conf": percentile(feats["p_true"][members]),
            "motion": percentile(feats["motion"][members]),
            **{k: percentile(v[members]) for k, v in nuis.items()},
        }
        for k, v in pct.items():
            per_pick[k] += v[sel].tolist()
        per_pick["p_true"] += feats["p_true"][members][sel].tolist()
        per_pick["err"] += feats["err"][members][sel].tolist()
        spread_t, spread_l = mean_pairwise(emb), mean_pairwise(lat)
        per_class["div_t"].append(mean_pairwise(emb[sel]) / spread_t)
        per_class["div_l"].append(mean_pairwise(lat[sel]) / spread_l)
        per_class["cover"].append(float(torch.cdist(emb, emb[sel]).min(1).values.mean()) / spread_t)
        cosine, distance = pairwise(feats["latent"][members])
        per_class["L_rep"].append(1 - math.exp(-float(distance[:, sel].min(1).values.mean())))
        off = cosine[sel][:, sel][~torch.eye(len(sel), dtype=torch.bool)]
        per_class["L_div"].append(float(off.mean()) if len(off) else math.nan)
    return {k: float(np.mean(v)) for k, v in {**per_pick, **per_class}.items()}


def rep_gradient_centrality(latent: torch.Tensor, labels: torch.Tensor, num_classes: int, ipc: int) -> float:
    """Mean Spearman correlation of -d L_rep / d score with closeness to the class mean (latent)."""
    from vddbench_vstunet.unet import pairwise, selection_losses

    out = []
    for c in range(num_classes):
        z = latent[labels == c]
        cosine, distance = pairwise(z)
        closeness = -(z - z.mean(0)).norm(dim=1)
        for draw in range(5):
            scores = (0.1 * torch.randn(len(z), generator=torch.Generator().manual_seed(draw))).requires_grad_()
            rep = selection_losses(scores, torch.zeros(len(z), num_classes), c, cosine, distance, ipc)["rep"]
            rep.backward()
            ranks = torch.stack([percentile(-scores.grad), percentile(closeness)])
            out.append(float(torch.corrcoef(ranks)[0, 1]))
    return float(np.mean(out))


def locate(videos_uint8: torch.Tensor, pool) -> torch.Tensor:
    """The pool indices of the stored clips (selection artifacts store the clips, not indices)."""
    by_bytes = {pool.raw(torch.tensor([i]))[0].numpy().tobytes(): i for i in range(len(pool))}
    found = [by_bytes.get(v.numpy().tobytes()) for v in videos_uint8]
    if any(i is None for i in found):
        raise ValueError("a stored clip is not one of the candidates: not a selection")
    return torch.tensor(found)


@torch.no_grad()
def per_class_accuracy(model: torch.nn.Module, val) -> torch.Tensor:
    model.eval()
    pred = torch.cat([model(val.clips(torch.arange(s, min(s + 256, len(val))))).argmax(1)
                      for s in range(0, len(val), 256)])
    return torch.stack([(pred[val.labels == c] == c).double().mean() * 100 for c in range(val.num_classes)])


def fmt(values: dict[int, float], base: dict[int, float] | None, measure: str) -> str:
    """mean ± 95% CI over seeds, or the paired difference to ``base``."""
    digits = 1 if measure in ("err", "top1") else 2
    if base is None:
        m, h = mean_ci(list(values.values()))
        return f"{m:.{digits}f} ± {h:.{digits}f}"
    m, h, _ = paired_difference(values, base)
    return f"{m:+.{digits}f} ± {h:.{digits}f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--distillers", nargs="+", default=["random", "vst-unet", "tac-dt", "herding", "kcenter"],
                    help="NAME or NAME{JSON}; the first is the paired baseline")
    ap.add_argument("--ipc", type=int, default=10)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--score", action="store_true", help="also train the protocol student on each selection "
                                                         "and score it on the validation clips")
    ap.add_argument("--per-class", action="store_true", help="with --score: per-class validation accuracy")
    ap.add_argument("--paired", action="store_true", help="each measure's paired difference to the first distiller")
    ap.add_argument("--rep-gradient", action="store_true",
                    help="where vst-unet's relaxed L_rep gradient pushes the scores at the start")
    ap.add_argument("--json", help="also write every per-seed value and the picks (rest-split indices) here")
    ap.add_argument("--measures", nargs="+", default=list(PICK_MEASURES + CLASS_MEASURES))
    args = ap.parse_args()
    torch.set_num_threads(1)
    spec = EMBEDDED.datasets[0]
    full = MovingShapes().load(spec, "train")
    rest, val = carve(full, VALIDATION_PER_CLASS)
    origin, _ = carve_indices(full, VALIDATION_PER_CLASS)  # rest's clips, as training-split indices
    drawn = [nuisance(spec, "train", int(i), int(label)) for i, label in zip(origin, rest.labels)]
    nuis = {k: torch.tensor([d[k] for d in drawn]) for k in drawn[0]}
    registry = get_registry().distillers
    entries = [(e, *parse_distiller(e)) for e in args.distillers]
    results = {e: {k: {} for k in (*args.measures, "top1")} for e, _, _ in entries}
    classes = {e: {} for e, _, _ in entries}
    picked = {e: {} for e, _, _ in entries}

    for seed in args.seeds:
        tasks = seed_tasks(spec, rest, seed)

        feats = clip_features(tasks(args.ipc), rest)
        if args.rep_gradient:
            r = rep_gradient_centrality(feats["latent"], rest.labels, spec.num_classes, args.ipc)
            print(f"seed {seed}: vst-unet's L_rep gradient vs closeness to the latent class mean: Spearman {r:+.2f}")
        line = [f"seed {seed}:"]
        for entry, name, params in entries:
            cls = registry[name].obj
            distiller = cls(**embedded_params(cls, params))
            t = time.perf_counter()
            artifact = seeded_distill(distiller, tasks(args.ipc), seed)
            seconds = time.perf_counter() - t
            picks = locate(artifact.tensors["videos_uint8"], rest)
            picked[entry][seed] = set(picks.tolist())
            for k, v in profile(picks, feats, nuis, rest.labels, spec.num_classes).items():
                if k in results[entry]:
                    results[entry][k][seed] = v
            if args.score:
                data = distiller.expand(artifact)
                if args.per_class:
                    acc = per_class_accuracy(trained_student(data, seed, spec), val)
                    classes[entry][seed] = acc
                    results[entry]["top1"][seed] = float(acc.mean())
                else:
                    results[entry]["top1"][seed] = evaluate(data, val, seed, spec)
                line.append(f"{entry} {results[entry]['top1'][seed]:.1f} ({seconds:.1f} s)")
        print(" ".join(line) if args.score else f"seed {seed} done", flush=True)

    first = entries[0][0]
    shown = [k for k in (*args.measures, "top1")
             if results[first][k] and not all(math.isnan(v) for v in results[first][k].values())]  # div: IPC >= 2
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"ipc": args.ipc, "seeds": args.seeds, "results": results,
                       "picks": {e: {s: sorted(p) for s, p in v.items()} for e, v in picked.items()}}, f, indent=1)
    print(f"\nIPC {args.ipc}, seeds {' '.join(map(str, args.seeds))}, validation carve "
          f"({VALIDATION_PER_CLASS} clips/class); mean ± 95% CI over seeds. Percentiles within the class's "
          f"candidates (0 = smallest; random ~0.5); p_true raw, err and top1 in %.")
    width = max(len(e) for e, _, _ in entries)
    header = f"{'':{width}s} " + " ".join(f"{k:>13s}" for k in shown)
    print(header)
    for entry, _, _ in entries:
        print(f"{entry:{width}s} " + " ".join(f"{fmt(results[entry][k], None, k):>13s}" for k in shown))
    if args.paired or args.score:
        print(f"\npaired difference to {first} (mean ± 95% CI over seeds)\n{header}")
        for entry, _, _ in entries[1:]:
            print(f"{entry:{width}s} " + " ".join(
                f"{fmt(results[entry][k], results[first][k], k):>13s}" if (args.paired or k == "top1")
                else f"{'':>13s}" for k in shown))
    print(f"\nshare of picks in common (mean over seeds; two random selections share ~{args.ipc / 80:.2f}; "
          f"rows and columns in the order above)")
    for a, _, _ in entries:
        shares = [np.mean([len(picked[a][s] & picked[b][s]) / len(picked[a][s]) for s in args.seeds])
                  for b, _, _ in entries]
        print(f"{a:{width}s} " + " ".join(f"{v:5.2f}" for v in shares))
    if args.score and len(entries) > 2:
        print(f"\ncorrelation over (selection, seed) of the paired difference to {first} in each measure with "
              f"that in top1 (Pearson r, 95% CI)")
        pairs = [(e, seed) for e, _, _ in entries[1:] for seed in args.seeds]
        dy = np.array([results[e]["top1"][s] - results[first]["top1"][s] for e, s in pairs])
        cells = []
        for k in shown[:-1]:
            dx = np.array([results[e][k][s] - results[first][k][s] for e, s in pairs])
            ok = np.isfinite(dx)
            if ok.sum() < 4 or dx[ok].std() == 0:
                continue
            r = float(np.corrcoef(dx[ok], dy[ok])[0, 1])
            half = 1.96 / math.sqrt(ok.sum() - 3)
            lo, hi = math.tanh(math.atanh(r) - half), math.tanh(math.atanh(r) + half)
            cells.append(f"{k} {r:+.2f} [{lo:+.2f}, {hi:+.2f}]")
        print(f"  (n={len(pairs)}) " + "; ".join(cells))
    if args.per_class and args.score:
        print("\nper-class validation top-1 (%), mean over seeds, and the difference to " + first)
        base = torch.stack(list(classes[first].values())).mean(0)
        for entry, _, _ in entries:
            acc = torch.stack(list(classes[entry].values())).mean(0)
            cells = " ".join(f"{a:5.1f}" + ("" if entry == first else f"({a - b:+.0f})") for a, b in zip(acc, base))
            print(f"  {entry:40s} {cells}")


if __name__ == "__main__":
    main()
