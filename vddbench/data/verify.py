"""``vddbench data verify``: is this copy of a dataset complete and readable?

Lists, per split, the videos the annotation files name that are missing, those that do not
decode (through the same pipeline as the cache, so a video verify passes is one the cache can use),
and the video files no annotation file names; coverage = usable / listed. A corrupt video is
reported and the check goes on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..protocol import DatasetSpec
from .layouts import manifest_for
from .manifest import SPLITS
from .parallel import decode_all


def verify(spec: DatasetSpec, root: Path | str | None, decode: bool = True, progress: bool = True) -> dict[str, Any]:
    manifest = manifest_for(spec, root)
    report: dict[str, Any] = {"dataset": spec.name, "root": str(manifest.root), "layout": manifest.layout,
                              "classes": len(manifest.classes), "splits": {}, "extras": manifest.extras}
    for split in SPLITS:
        undecodable = None
        if decode:
            present = manifest.present(split)
            undecodable = {}
            for i, _clip, error in decode_all(spec, manifest, present, list(range(len(present))), False,
                                              progress, f"checking {spec.name}/{split}"):
                if error is not None:
                    undecodable[present[i].name] = error
        report["splits"][split] = {**manifest.coverage(split, None if undecodable is None else len(undecodable)),
                                   "missing_videos": manifest.missing(split), "undecodable_videos": undecodable}
    return report


def complete(report: dict[str, Any]) -> bool:
    return all(s["fraction"] == 1.0 and s["undecodable"] is not None for s in report["splits"].values())


def _listing(title: str, rows: list[str], limit: int) -> list[str]:
    if not rows:
        return []
    shown = rows if limit <= 0 else rows[:limit]
    more = [f"    ... and {len(rows) - len(shown)} more (--limit 0 lists all)"] if len(shown) < len(rows) else []
    return [f"  {title} ({len(rows)}):"] + [f"    {r}" for r in shown] + more


def format_report(report: dict[str, Any], limit: int = 20) -> str:
    lines = [f"{report['dataset']} at {report['root']}: {report['layout']}, {report['classes']} classes"]
    missing, undecodable = [], []
    for split, s in report["splits"].items():
        bad = "not decoded (--no-decode)" if s["undecodable"] is None else f"{s['undecodable']} undecodable"
        lines.append(f"  {split:<5} {s['listed']} listed, {s['found']} found, {s['missing']} missing, {bad}: "
                     f"coverage {100 * s['fraction']:.2f}%")
        missing += [f"{split:<5} {name}" for name in s["missing_videos"]]
        undecodable += [f"{split:<5} {name}: {why}" for name, why in (s["undecodable_videos"] or {}).items()]
    lines += _listing("missing", missing, limit)
    lines += _listing("undecodable (skipped when caching)", undecodable, limit)
    lines += _listing("extra (on disk, in no annotation file)", report["extras"], limit)
    return "\n".join(lines)
