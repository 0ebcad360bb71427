"""``vddbench data verify`` and ``vddbench data cache``: check a dataset copy, decode it ahead."""

from __future__ import annotations

import json

from ..errors import ProtocolError
from ..protocol import DatasetSpec


def find_dataset(name: str, protocol: str | None = None) -> DatasetSpec:
    """The dataset ``name`` of ``protocol``, or of the first protocol that has it."""
    from ..protocol import all_protocols, get_protocol

    if protocol:
        return get_protocol(protocol).dataset(name)
    ordered = sorted(all_protocols().values(), key=lambda p: p.name != name)  # the protocol named after it first
    for p in ordered:
        for spec in p.datasets:
            if spec.name == name:
                return spec
    known = sorted({d.name for p in all_protocols().values() for d in p.datasets if d.source != "moving-shapes"})
    raise ProtocolError(f"no protocol has a dataset '{name}' (real datasets: {', '.join(known)})")


def cmd_verify(args) -> int:
    from .verify import complete, format_report, verify

    report = verify(find_dataset(args.dataset, args.protocol), args.root, decode=not args.no_decode)
    print(json.dumps(report, indent=1) if args.json else format_report(report, args.limit))
    return 0 if complete(report) else 1


def cmd_cache(args) -> int:
    from . import cache
    from .layouts import manifest_for

    spec = find_dataset(args.dataset, args.protocol)
    manifest = manifest_for(spec, args.root)
    for split in ("train", "test"):
        data = cache.load(spec, manifest, split)
        c = data.coverage[split]
        print(f"{spec.name}/{split}: {len(data)} clips in {cache.cache_dir(spec, manifest, split)} "
              f"(coverage {100 * c['fraction']:.2f}%: {c['missing']} missing, {c['undecodable']} undecodable)")
    return 0


def add_data_parser(sub) -> None:
    data = sub.add_parser("data", help="real datasets: verify a copy, decode it into the clip cache")
    commands = data.add_subparsers(dest="data_command", required=True)
    for name, func, text in (("verify", cmd_verify, "list missing, extra and undecodable videos and the coverage"),
                             ("cache", cmd_cache, "decode both splits into the clip cache ($VDDBENCH_CACHE)")):
        p = commands.add_parser(name, help=text)
        p.add_argument("--dataset", required=True, help="miniucf, hmdb51, kinetics400 or ssv2")
        p.add_argument("--root", required=True, help="the dataset's folder (what --data-root takes)")
        p.add_argument("--protocol", default=None, help="protocol to take the dataset from (default: its own)")
        if name == "verify":
            p.add_argument("--no-decode", action="store_true", help="only check which files exist (fast)")
            p.add_argument("--limit", type=int, default=20, help="names listed per kind (0: all)")
            p.add_argument("--json", action="store_true", help="print the report as JSON")
        p.set_defaults(func=func)
