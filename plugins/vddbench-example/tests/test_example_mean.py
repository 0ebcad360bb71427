import vddbench
from vddbench_example import ClassMean


def test_with_k_1_every_clip_is_a_real_clip_of_its_class(vddbench_task):
    task = vddbench_task(ipc=2)
    artifact = ClassMean(k=1).distill(task)
    train = task.train.raw(slice(0, len(task.train)))
    for clip, label in zip(artifact.tensors["videos_uint8"], artifact.tensors["labels"]):
        same = (train == clip).flatten(1).all(1)
        assert same.any() and set(task.train.labels[same].tolist()) == {int(label)}


def test_is_registered_by_its_distribution(vddbench_registry):
    entry = vddbench_registry.distillers["example-mean"]
    assert entry.obj is ClassMean and entry.provider.name == "vddbench-example"
    assert isinstance(ClassMean.tags, vddbench.DistillerTags) and ClassMean().get_params() == {"k": 4}
