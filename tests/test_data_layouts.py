"""Each real dataset is found in its official layout and in mmaction2's, on generated copies."""

import pytest

from vddbench.data.layouts import manifest_for
from vddbench.data.ucf101 import MINIUCF_CLASSES
from vddbench.errors import DataError
from vddbench.protocols import HMDB51, KINETICS400, MINIUCF, SSV2
from vddbench.testing import datasets as fixtures

HMDB_CLASSES = ("brush_hair", "cartwheel", "chew")


def test_miniucf_is_the_protocols_fifty_classes_in_alphabetical_order():
    assert len(MINIUCF_CLASSES) == 50 and tuple(sorted(MINIUCF_CLASSES)) == MINIUCF_CLASSES
    assert dict(MINIUCF.options)["classes"] == MINIUCF_CLASSES and MINIUCF.num_classes == 50


def test_miniucf_takes_split_1_rows_of_its_classes_labelled_by_the_fifty_list(tmp_path):
    fixtures.make_ucf101(tmp_path, ("Biking", "Diving"), train=2, test=1, other_classes=("YoYo", "ApplyLipstick"))
    m = manifest_for(MINIUCF, tmp_path)
    assert m.layout == "UCF101 (official)" and len(m.classes) == 50
    assert {e.name.split("/")[0] for s in m.splits.values() for e in s} == {"Biking", "Diving"}  # no YoYo
    assert sorted({e.label for e in m.splits["train"]}) == [MINIUCF_CLASSES.index("Biking"),
                                                            MINIUCF_CLASSES.index("Diving")]
    assert len(m.splits["train"]) == 4 and len(m.splits["test"]) == 2
    assert not m.missing("train") and not m.extras


def test_missing_and_extra_videos_are_listed(tmp_path):
    fixtures.make_ucf101(tmp_path, ("Biking",), other_classes=())
    (tmp_path / "UCF-101/Biking/v_Biking_g01_c01.avi").unlink()
    fixtures.write_video(tmp_path / "UCF-101/Biking/v_Biking_g30_c09.avi", 0, 9, frames=8)
    m = manifest_for(fixtures.small_protocol(MINIUCF, 1, ("Biking",)).datasets[0], tmp_path)
    assert m.missing("test") == ["Biking/v_Biking_g01_c01.avi"]
    assert m.extras == ["UCF-101/Biking/v_Biking_g30_c09.avi"]
    assert m.coverage("test")["fraction"] == 0.0 and m.coverage("train")["fraction"] == 1.0


def test_hmdb51_split_1_trains_on_the_unused_videos_too(tmp_path):
    fixtures.make_hmdb51(tmp_path, HMDB_CLASSES, train=2, test=1, unused=1)
    spec = fixtures.small_protocol(HMDB51, 3).datasets[0]
    m = manifest_for(spec, tmp_path)
    assert m.classes == HMDB_CLASSES and m.layout == "HMDB51 (official)"
    assert len(m.splits["train"]) == 9 and len(m.splits["test"]) == 3  # 2 train + 1 unused per class


def test_the_protocols_class_count_is_checked(tmp_path):
    fixtures.make_hmdb51(tmp_path, HMDB_CLASSES, train=1, test=1, unused=0)
    with pytest.raises(DataError, match=r"has 3 classes, the protocol expects 51") as err:
        manifest_for(HMDB51, tmp_path)
    assert "hmdb51" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("class_folders", [True, False])
def test_kinetics_from_csvs_with_flat_or_class_folder_videos(tmp_path, class_folders):
    fixtures.make_kinetics(tmp_path, ("air drumming", "abseiling"), train=2, test=1, class_folders=class_folders,
                           frames=8)
    m = manifest_for(fixtures.small_protocol(KINETICS400, 2).datasets[0], tmp_path)
    assert m.classes == ("abseiling", "air drumming")  # alphabetical, as mmaction2's label map
    assert len(m.present("train")) == 4 and len(m.present("test")) == 2
    assert m.splits["test"][0].name.endswith("_000000_000010")


def test_ssv2_labels_come_from_the_template(tmp_path):
    templates = ("Pushing [something] from left to right", "Holding [something]")
    fixtures.make_ssv2(tmp_path, templates, train=1, test=1, frames=8)
    m = manifest_for(fixtures.small_protocol(SSV2, 2).datasets[0], tmp_path)
    assert m.classes == ("pushing something from left to right", "holding something")
    assert [e.label for e in m.splits["train"]] == [0, 1] and m.present("test")[0].path.suffix == ".webm"


def test_mmaction2_video_lists(tmp_path):
    fixtures.make_mmaction(tmp_path, "ucf101", ("Biking", "Diving"), train=2, test=1, frames=8)
    m = manifest_for(MINIUCF, tmp_path)
    assert m.layout == "UCF101 (mmaction2 video lists)"
    assert {e.label for e in m.present("test")} == {MINIUCF_CLASSES.index("Biking"), MINIUCF_CLASSES.index("Diving")}


def test_mmaction2_rawframe_lists_and_hmdb51_unlisted_videos_train(tmp_path):
    fixtures.make_mmaction(tmp_path, "hmdb51", HMDB_CLASSES, train=1, test=1, rawframes=True, frames=8)
    fixtures.write_rawframes(tmp_path / "rawframes/chew/unused_clip", 2, 7, frames=8)  # split 1 "unused"
    m = manifest_for(fixtures.small_protocol(HMDB51, 3).datasets[0], tmp_path)
    assert m.rawframes and m.filename_tmpl == "img_{:05d}.jpg" and m.start_index == 1
    assert len(m.splits["train"]) == 4 and m.splits["train"][-1].frames == 8


@pytest.mark.parametrize("spec", [MINIUCF, HMDB51, KINETICS400, SSV2], ids=lambda s: s.name)
def test_absent_or_wrong_root_is_one_line_naming_dataset_path_and_fix(tmp_path, spec):
    for root, expected in ((None, "--data-root"), (tmp_path / "nope", "not a folder"), (tmp_path, "holds neither")):
        with pytest.raises(DataError) as err:
            manifest_for(spec, root)
        message = str(err.value)
        assert spec.name in message and expected in message and "\n" not in message
        assert root is None or str(root) in message
