"""TAC-DT (Temporal-Aware Cluster-based Distillation; paper 003, section 3.2), a vddbench distiller.

Per class: embed every candidate clip with a pretrained video model (the paper: VideoMAE; here the
protocol teacher by default), reduce the embeddings with PCA, cluster them with BIRCH into IPC
clusters, and keep the candidate nearest each cluster's centre. Training-free. The artifact stores
the selected clips themselves (uint8) and their labels: only what is selected is counted.
"""

from __future__ import annotations

import warnings

import torch

import vddbench
from vddbench import apply_model as apply
from vddbench import candidate_pool, user_model
from vddbench import model_name as teacher_name


def _pca_birch(feats: torch.Tensor, k: int, components: float, threshold: float,
               branching_factor: int) -> tuple[list[int], float, int]:
    """Indices of the ``k`` representatives (one per BIRCH cluster), the threshold used and the
    number of principal components kept."""
    import numpy as np
    from sklearn.cluster import Birch
    from sklearn.decomposition import PCA

    x = feats.double().numpy()
    n = len(x)
    if n <= k:
        return list(range(n)), threshold, 0
    n_comp = components if components < 1 else min(int(components), n, x.shape[1])
    z = PCA(n_components=n_comp, svd_solver="full").fit_transform(x)
    # BIRCH's threshold is a radius: measure it in units of the class's RMS spread, so that one
    # threshold means the same for any embedding (VideoMAE's 1408-d or the teacher's 32-d).
    spread = np.sqrt(((z - z.mean(0)) ** 2).sum(1).mean())
    z = z / spread if spread > 0 else z
    used = threshold
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "number of subclusters < n_clusters": handled below
        while True:
            birch = Birch(threshold=used, branching_factor=branching_factor, n_clusters=k).fit(z)
            if len(birch.subcluster_centers_) >= k or used < 1e-6:
                break
            used /= 2  # fewer leaf subclusters than IPC: a finer tree
    labels = birch.labels_
    picked: list[int] = []
    for cluster in np.unique(labels):
        members = np.flatnonzero(labels == cluster)
        centre = z[members].mean(0)
        picked.append(int(members[np.argmin(((z[members] - centre) ** 2).sum(1))]))
    # Reassigning points to their nearest subcluster can leave a cluster empty (rare): fill with
    # the candidates farthest from everything picked so far (k-center greedy).
    while len(picked) < k:
        nearest = np.min(((z[:, None, :] - z[picked][None]) ** 2).sum(2), axis=1)
        picked.append(int(np.argmax(nearest)))
    return sorted(picked), used, z.shape[1]


class TACDT(vddbench.Distiller):
    """TAC-DT: per class, PCA + BIRCH into IPC clusters over candidate embeddings; the member
    nearest each cluster centre is kept (003 §3.2)."""

    name = "tac-dt"
    tags = vddbench.DistillerTags(needs_teacher=True)

    def __init__(self, candidates: str = "train", candidates_per_class: int | None = 100,
                 embedder: str = "teacher", pca_components: float = 0.95, birch_threshold: float = 0.25,
                 branching_factor: int = 50):
        self.candidates = candidates  # "train" or a folder of clips, one sub-folder per class
        self.candidates_per_class = candidates_per_class  # the paper generates N_c = 100 per class
        self.embedder = embedder  # "teacher", "module:callable" or a TorchScript file
        self.pca_components = pca_components  # < 1: share of variance kept; >= 1: components
        self.birch_threshold = birch_threshold  # in units of the class's RMS spread after PCA
        self.branching_factor = branching_factor  # scikit-learn's default
        if embedder != "teacher":
            self.tags = vddbench.DistillerTags(needs_teacher=False)
        self._check_values()  # a bad value stops `vddbench run` before any work

    def _check_values(self) -> None:
        if not (self.pca_components > 0 and self.birch_threshold > 0):
            raise vddbench.DistillerError(f"distiller '{self.name}' needs pca_components > 0 and "
                                          f"birch_threshold > 0; got {self.pca_components}, {self.birch_threshold}")
        if (self.candidates_per_class is not None and self.candidates_per_class < 1) or self.branching_factor < 2:
            raise vddbench.DistillerError(f"distiller '{self.name}' needs candidates_per_class >= 1 (or None) and "
                                          f"branching_factor >= 2; got {self.candidates_per_class}, "
                                          f"{self.branching_factor}")

    def _embed_fn(self, task: vddbench.DistillTask):
        if self.embedder == "teacher":
            teacher = task.teacher()
            return teacher.embed, (f"protocol teacher ({teacher_name(teacher)} trained on the training split; "
                                   f"pooled backbone features), the stand-in for VideoMAE")
        return user_model(self.name, self.embedder, task.device)

    def distill(self, task: vddbench.DistillTask) -> vddbench.Artifact:
        from threadpoolctl import threadpool_limits

        pool, members, pool_desc = candidate_pool(self.name, self.candidates, task, self.candidates_per_class,
                                                  task.generator(offset=1))
        embed, model_desc = self._embed_fn(task)
        everything = torch.cat(members)
        feats = apply(self.name, embed, pool, everything, task.device).flatten(1)
        if not torch.isfinite(feats).all():
            raise vddbench.DistillerError(f"distiller '{self.name}' got non-finite embeddings from {model_desc}")
        chosen, thresholds, components = [], [], []
        start = 0
        with threadpool_limits(limits=1):  # the harness fixes one thread per cell; BLAS would take all
            for label_members in members:
                block = feats[start:start + len(label_members)]
                start += len(label_members)
                picked, used, kept = _pca_birch(block, task.ipc, self.pca_components, self.birch_threshold,
                                                self.branching_factor)
                chosen.append(label_members[picked])
                thresholds.append(used)
                components.append(kept)
        index = torch.cat(chosen)
        lowered = any(t != self.birch_threshold for t in thresholds)
        return vddbench.Artifact(
            {"videos_uint8": pool.raw(index), "labels": pool.labels[index]},
            {"candidates": pool_desc, "embedder": model_desc,
             "pca": f"{min(components)}-{max(components)} components of {feats.shape[1]} per class",
             "birch_threshold_used": (",".join(f"{t:g}" for t in thresholds) if lowered
                                      else f"{self.birch_threshold:g}")})


@vddbench.hookimpl
def register_distillers(register):
    register(TACDT)
