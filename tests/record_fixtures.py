"""Record dicts the record and fault tests share."""

from vddbench.results import SCHEMA_VERSION


def minimal_record(**extra) -> dict:
    """The fewest fields an ``ok`` record may have, updated with ``extra``."""
    record = {"schema_version": SCHEMA_VERSION, "status": "ok", "protocol_id": "p", "dataset": "d", "student": "s",
              "seed": 0, "ipc": 1, "distiller": {"name": "x"}, "metrics": {"top1": 50.0}, "storage_bytes": 10,
              "costs": {}}
    record.update(extra)
    return record
