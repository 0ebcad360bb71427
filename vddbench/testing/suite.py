"""One generator of checks, three front doors: pytest, plain Python, and ``vddbench check``.

Which checks run is decided by the distiller's declared tags (never its name). A known failure is
declared with ``expected_failed_checks={"check_x": "why"}`` and shows as an xfail (strict: once it
passes, the declaration must go); nothing is skipped silently.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..distiller import DistillerTags
from . import checks as c

CHECKS: tuple[Callable, ...] = (
    c.check_registration, c.check_output_contract, c.check_clips_per_class, c.check_determinism,
    c.check_training_split_unchanged,
    c.check_test_split_unread, c.check_cached_inputs_declared, c.check_artifact_round_trip,
    c.check_artifact_self_contained, c.check_storage_honest, c.check_storage_budget,
    c.check_time_budget, c.check_augment_batch,
)
CHECK_NAMES = tuple(check.__name__ for check in CHECKS)


def yield_checks(cls) -> Iterator[Callable]:
    """The checks that apply to a distiller class, chosen from its tags."""
    tags = cls.tags if isinstance(cls.tags, DistillerTags) else DistillerTags()  # bad tags: registration fails
    for check in CHECKS:
        if check is c.check_storage_budget and tags.storage_budget_bytes is None:
            continue  # no budget declared
        if check is c.check_clips_per_class and not tags.uses_ipc:
            continue  # ignores the IPC, so 0 is fine
        if check is c.check_augment_batch and not tags.eval_augmentation:
            continue  # the harness never calls augment_batch
        yield check


@dataclass(frozen=True)
class BoundCheck:
    """A check with the kit's options bound; call it with the distiller."""

    check: Callable
    protocol: str = "smoke"
    device: str = "cpu"
    time_budget_s: float | None = None

    @property
    def __name__(self) -> str:
        return self.check.__name__

    def __call__(self, distiller) -> None:
        self.check(distiller, protocol=self.protocol, device=self.device, time_budget_s=self.time_budget_s)

    def __repr__(self) -> str:
        return self.check.__name__


def _expected(expected_failed_checks, distiller) -> dict[str, str]:
    expected = expected_failed_checks(distiller) if callable(expected_failed_checks) else expected_failed_checks
    expected = dict(expected or {})
    unknown = sorted(set(expected) - set(CHECK_NAMES))
    if unknown:
        raise ValueError(f"expected_failed_checks names unknown check(s) {unknown}; known: {', '.join(CHECK_NAMES)}")
    return expected


def _plan(distillers, expected_failed_checks, protocol, device,
          time_budget_s) -> Iterator[tuple[str, Any, BoundCheck, str | None]]:
    if not isinstance(distillers, (list, tuple)):
        distillers = [distillers]
    for distiller in distillers:
        cls, _ = c.resolve(distiller, protocol)
        expected = _expected(expected_failed_checks, distiller)
        for check in yield_checks(cls):
            yield cls.name, distiller, BoundCheck(check, protocol, device, time_budget_s), expected.get(check.__name__)


def parametrize_with_checks(distillers, *, expected_failed_checks=None, protocol: str = "smoke",
                            device: str = "cpu", time_budget_s: float | None = None):
    """A ``pytest.mark.parametrize("distiller, check", ...)`` over every applicable check.

    Use it as::

        @parametrize_with_checks([MyDistiller])
        def test_conformance(distiller, check):
            check(distiller)

    Test ids are ``<name>-<check>`` (``-k check_determinism`` works). ``expected_failed_checks``
    is a dict ``{check name: reason}`` or a callable ``distiller -> dict``.
    """
    import pytest

    params = [pytest.param(distiller, check, id=f"{name}-{check.__name__}",
                           marks=[pytest.mark.xfail(reason=reason, strict=True)] if reason else [])
              for name, distiller, check, reason in _plan(distillers, expected_failed_checks, protocol, device,
                                                          time_budget_s)]
    return pytest.mark.parametrize("distiller, check", params)


def check_distiller(distiller, *, expected_failed_checks=None, protocol: str = "smoke", device: str = "cpu",
                    time_budget_s: float | None = None, on_fail: str | None = None) -> list[dict[str, Any]]:
    """Run every applicable check without pytest; one result dict per check.

    A result has ``distiller``, ``check``, ``status`` (passed, failed, xfailed or xpassed; xpassed
    counts as a failure), ``message`` (the assertion) , ``reason`` (from expected_failed_checks) and
    ``seconds``. ``on_fail="raise"`` raises the first unexpected failure instead.
    """
    results = []
    for name, subject, check, reason in _plan(distiller, expected_failed_checks, protocol, device, time_budget_s):
        start = time.perf_counter()
        message, error = None, None
        try:
            check(subject)
        except AssertionError as exc:
            message, error = str(exc), exc
        except Exception as exc:  # a crash inside a check is a failure too, with its type
            message, error = f"{type(exc).__name__}: {exc}", exc
        if reason is None:
            status = "passed" if message is None else "failed"
        else:
            status = "xfailed" if message is not None else "xpassed"
            if status == "xpassed":
                message = f"{check.__name__} passes; remove it from expected_failed_checks ({reason})"
        if on_fail == "raise" and status in ("failed", "xpassed"):
            raise error if error is not None else AssertionError(message)
        results.append({"distiller": name, "check": check.__name__, "status": status, "message": message,
                        "reason": reason, "seconds": round(time.perf_counter() - start, 3)})
    return results
