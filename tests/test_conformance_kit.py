"""The conformance kit's front doors (pytest, Python, CLI), its tag-driven selection, its pytest
plugin and its temporary plugins."""

import json
import subprocess
import sys

import pytest
from test_conformance_broken import Correct, NonDeterministic, WrongShape  # noqa: I001 (tests/ is on sys.path)

import vddbench
from vddbench.plugins import get_registry
from vddbench.testing import check_distiller, parametrize_with_checks, temporary_plugin, yield_checks
from vddbench.testing.suite import CHECK_NAMES

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module", autouse=True)
def zoo():
    with temporary_plugin(Correct, NonDeterministic, WrongShape, dist="vddbench-kit-zoo", version="1.2.3"):
        yield


def test_temporary_plugin_is_found_through_its_entry_point_and_gone_after():
    entry = get_registry().distillers["kit-correct"]
    assert entry.obj is Correct and (entry.provider.name, entry.provider.version) == ("vddbench-kit-zoo", "1.2.3")
    with temporary_plugin(type("Extra", (Correct,), {"name": "kit-extra"})):
        assert "kit-extra" in get_registry().distillers
    assert "kit-extra" not in get_registry().distillers


def test_checks_are_chosen_from_tags_never_from_names():
    def checks(**tags):
        cls = type("X", (Correct,), {"name": "anything", "tags": vddbench.DistillerTags(**tags)})
        return {c.__name__ for c in yield_checks(cls)}

    plain = checks()
    assert plain == checks() and "check_storage_budget" not in plain and "check_augment_batch" not in plain
    assert "check_storage_budget" in checks(storage_budget_bytes=1000)
    assert "check_clips_per_class" not in checks(uses_ipc=False)
    assert "check_cached_inputs_declared" in checks(needs_teacher=True)
    assert "check_augment_batch" in checks(eval_augmentation=True)
    assert {c.__name__ for c in yield_checks(Correct)} == {c.__name__ for c in yield_checks(WrongShape)}


def test_parametrize_with_checks_ids_and_visible_xfail():
    mark = parametrize_with_checks([Correct], expected_failed_checks={"check_determinism": "known issue"})
    params = mark.args[1]
    assert [p.id for p in params] == [f"kit-correct-{c.__name__}" for c in yield_checks(Correct)]
    xfails = {p.id: p.marks[0].kwargs for p in params if p.marks}
    assert xfails == {"kit-correct-check_determinism": {"reason": "known issue", "strict": True}}


def test_unknown_expected_failed_check_is_an_error_not_a_silent_skip():
    with pytest.raises(ValueError, match="unknown check.*check_determinsm"):
        check_distiller(Correct, expected_failed_checks={"check_determinsm": "typo"})


def test_check_distiller_reports_xfail_and_xpass():
    results = {r["check"]: r for r in check_distiller(
        NonDeterministic, expected_failed_checks={"check_determinism": "uses numpy's global RNG",
                                                  "check_output_contract": "believed broken"})}
    assert results["check_determinism"]["status"] == "xfailed"
    assert results["check_output_contract"]["status"] == "xpassed"
    assert "remove it from expected_failed_checks" in results["check_output_contract"]["message"]
    assert all(r["status"] == "passed" for name, r in results.items()
               if name not in ("check_determinism", "check_output_contract"))
    assert set(results["check_registration"]) == {"distiller", "check", "status", "message", "reason", "seconds"}


def test_check_distiller_can_raise_the_first_failure():
    with pytest.raises(AssertionError, match="distiller 'kit-wrong-shape' should return videos of shape"):
        check_distiller(WrongShape, on_fail="raise")


def test_cli_check_names_the_failure(capsys):
    from vddbench.cli import main

    assert main(["check", "kit-wrong-shape", "--xfail", "check_determinism=demo"]) == 1
    out = capsys.readouterr().out
    assert "FAILED   kit-wrong-shape-check_output_contract" in out
    assert "distiller 'kit-wrong-shape' should return videos of shape" in out
    assert "XPASSED  kit-wrong-shape-check_determinism" in out
    assert main(["check", "kit-correct"]) == 0


def test_cli_check_random_passes_every_check():
    proc = subprocess.run([sys.executable, "-m", "vddbench.cli", "check", "random"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "random-check_determinism" in proc.stdout and "FAILED" not in proc.stdout


def test_pytest_front_door_k_selection_xfail_fixtures_and_a_light_plugin(pytester):
    """A plugin's own test file, run by a fresh pytest that loads vddbench's pytest11 plugin."""
    pytester.makeconftest("""
        import json, sys

        def pytest_configure(config):  # runs after the pytest11 plugins loaded, before collection
            loaded = sorted(m for m in sys.modules if m.startswith("vddbench"))
            open("loaded.json", "w").write(json.dumps(loaded))
    """)
    pytester.makepyfile(test_mine="""
        from vddbench.testing import parametrize_with_checks

        @parametrize_with_checks(["random"], time_budget_s=0.0,
                                 expected_failed_checks={"check_time_budget": "zero budget, on purpose"})
        def test_conformance(distiller, check):
            check(distiller)

        def test_fixtures(vddbench_protocol, vddbench_task, vddbench_registry):
            task = vddbench_task(ipc=2)
            assert vddbench_protocol.name == "smoke" and task.ipc == 2 and "random" in vddbench_registry.distillers
    """)
    result = pytester.runpytest_subprocess(  # in-process would re-import torch modules
        "-k", "check_determinism or check_time_budget or fixtures", "-rxs")
    result.assert_outcomes(passed=2, xfailed=1)
    result.stdout.fnmatch_lines(["*random-check_time_budget*zero budget, on purpose*"])
    loaded = set(json.loads((pytester.path / "loaded.json").read_text()))
    assert "vddbench.testing.pytest_plugin" in loaded  # found through its entry point ...
    assert not loaded & {"vddbench.testing.checks", "vddbench.testing.bench", "vddbench.runner"}  # ... and light
    import vddbench.testing.pytest_plugin as plugin

    assert not [name for name in vars(plugin) if name.startswith("pytest_")]  # no hooks: inert, fixtures only


def test_vddbench_run_fixture_records_the_file_size(vddbench_run, tmp_path):
    records = vddbench_run("kit-correct", ipc=1, results=tmp_path / "r")
    assert [r["status"] for r in records] == ["ok"], records[0].get("error")
    artifact = next((tmp_path / "r" / "artifacts").rglob("*.safetensors"))
    assert records[0]["storage_bytes"] == artifact.stat().st_size


def test_every_check_has_a_one_line_docstring_and_is_exported():
    import vddbench.testing as kit

    for name in CHECK_NAMES:
        doc = getattr(kit, name).__doc__
        assert doc and "\n" not in doc.strip(), name


def test_saved_artifacts_are_byte_identical_whatever_the_metadata_order(tmp_path):
    """safetensors writes metadata in hash-map order; the kit's determinism check found it."""
    import torch

    from vddbench.artifacts import describe, load_artifact, save_artifact

    artifact = vddbench.Artifact({"videos": torch.ones(2, 3), "labels": torch.arange(2)},
                                 {"method": "m", "ipc": "1", "note": "n", "z": "last"})
    shas = {describe(save_artifact(artifact, tmp_path / f"{i}.safetensors"))["artifact_sha256"] for i in range(12)}
    assert len(shas) == 1
    again = load_artifact(tmp_path / "0.safetensors")
    assert again.metadata == artifact.metadata and torch.equal(again.tensors["videos"], artifact.tensors["videos"])


def test_register_fixture_installs_a_variant_for_one_test(vddbench_register):
    variant = type("Variant", (Correct,), {"name": "kit-variant"})
    vddbench_register(variant, dist="vddbench-variant")
    assert get_registry().distillers["kit-variant"].provider.name == "vddbench-variant"
