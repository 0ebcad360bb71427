import importlib
import importlib.util
import sys

import pytest

from vddbench.students import mmaction_compat


def test_mmaction_models_import_despite_packaging_bugs():
    models = mmaction_compat.import_mmaction_models()
    from mmaction.registry import MODELS

    assert models.__name__ == "mmaction.models"
    assert MODELS.get("Recognizer3D") is not None  # the registry was populated


def test_drn_placeholder_explains_itself_when_built():
    mmaction_compat.import_mmaction_models()
    from mmaction.models.localizers import DRN

    with pytest.raises(ImportError, match="2714"):
        DRN()


def test_importlib_metadata_falls_back_to_the_standard_library(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "importlib_metadata" else real_find_spec(name, *a))
    monkeypatch.delitem(sys.modules, "importlib_metadata", raising=False)
    mmaction_compat._ensure_importlib_metadata()
    assert sys.modules["importlib_metadata"] is importlib.import_module("importlib.metadata")
