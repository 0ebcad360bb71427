"""Each distilled clip is the pixel mean of k random training clips of one class."""

import torch

import vddbench


class ClassMean(vddbench.Distiller):
    """Each clip: the mean of k random training clips of one class."""

    name = "example-mean"
    tags = vddbench.DistillerTags(needs_teacher=False, soft_labels=False)
    protocol_defaults = {"smoke": {"k": 2}}  # the smoke protocol has 6 clips per class

    def __init__(self, k: int = 4):
        self.k = k  # hyper-parameters are __init__ arguments, stored under their own names

    def distill(self, task: vddbench.DistillTask) -> vddbench.Artifact:
        g = task.generator()  # seeded from task.seed: same seed, same artifact
        videos, labels = [], []
        for label in range(task.num_classes):
            members = task.train.indices_of(label)
            for _ in range(task.ipc):
                pick = members[torch.randperm(len(members), generator=g)[: self.k]]
                videos.append(task.train.raw(pick).float().mean(0).round().to(torch.uint8))
                labels.append(label)
        return vddbench.Artifact({"videos_uint8": torch.stack(videos), "labels": torch.tensor(labels)})

    def expand(self, artifact: vddbench.Artifact) -> vddbench.DistilledVideos:
        videos = vddbench.normalize(artifact.tensors["videos_uint8"])  # uint8 stored: 4x less storage
        return vddbench.DistilledVideos(videos, artifact.tensors["labels"])


@vddbench.hookimpl
def register_distillers(register):
    register(ClassMean)
