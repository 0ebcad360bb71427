"""The real protocols: MiniUCF, HMDB51, Kinetics-400 and SSv2 as the published work evaluates them.

One protocol per dataset (each is read from its own ``--data-root``), all with IPC 1/5/10, seeds
0/1/2, VDSD's evaluation recipe (``EvalRecipe`` defaults: SGD lr 0.01, 500 epochs, ...), and the
protocol student ConvNet3D followed by the cross-architecture students. Top-1 and top-5 are always
recorded; the leaderboard shows top-1 for MiniUCF/HMDB51 and top-5 for K400/SSv2 (``metric``).
Clip facts are those of ``shared/PROTOCOL.md``; ``docs/datasets.md`` says how to point at the data.
"""

from __future__ import annotations

from ..data.ucf101 import MINIUCF_CLASSES
from ..protocol import ClipSpec, DatasetSpec, EvalRecipe, Protocol

REAL_STUDENTS = ("convnet3d", "minic3d", "cnn-gru", "cnn-lstm", "cnn-mean", "c3d", "r2plus1d-r18",
                 "slowonly-r18", "x3d-s", "tsn-r18", "tsm-r18")

# decoder: bump when decoding changes, so caches and protocol ids follow
_UCF_HMDB = (("split", 1), ("resize", (160, 120)), ("sampling", "gap"), ("gap", 4), ("clip_seed", 0),
             ("decoder", 1))

MINIUCF = DatasetSpec("miniucf", "ucf101", 50, ClipSpec(16, 112, 112), "top1",
                      (("classes", MINIUCF_CLASSES),) + _UCF_HMDB)
HMDB51 = DatasetSpec("hmdb51", "hmdb51", 51, ClipSpec(16, 112, 112), "top1", _UCF_HMDB)
KINETICS400 = DatasetSpec("kinetics400", "kinetics400", 400, ClipSpec(8, 64, 64), "top5",
                          (("resize", (64, 64)), ("sampling", "middle"), ("sample_fps", 2.0), ("clip_seed", 0),
                           ("decoder", 1)))
SSV2 = DatasetSpec("ssv2", "ssv2", 174, ClipSpec(8, 64, 64), "top5",
                   (("resize", (64, 64)), ("sampling", "uniform"), ("clip_seed", 0), ("decoder", 1)))


def _protocol(spec: DatasetSpec, description: str) -> Protocol:
    return Protocol(name=spec.name, description=description, datasets=(spec,), ipcs=(1, 5, 10),
                    seeds=(0, 1, 2), students=REAL_STUDENTS, recipe=EvalRecipe())


REAL_PROTOCOLS = (
    _protocol(MINIUCF, "MiniUCF: 50 UCF101 classes, official split 1, 16x112x112 clips, VDSD recipe"),
    _protocol(HMDB51, "HMDB51: official split 1 (unused videos train), 16x112x112 clips, VDSD recipe"),
    _protocol(KINETICS400, "Kinetics-400: train/validate, 8x64x64 clips around the middle, VDSD recipe"),
    _protocol(SSV2, "Something-Something v2: train/validation, 8x64x64 clips over the video, VDSD recipe"),
)
