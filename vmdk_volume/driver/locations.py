"""What the driver records in Cinder's ``provider_location`` of snapshots."""

TEMPLATE, COW = 'template', 'cow'     # '<kind>:<moref value>'


def snapshot_location(kind: str, ref: str) -> str:
    return '%s:%s' % (kind, ref)


def parse_snapshot_location(snapshot) -> tuple[str | None, str | None]:
    """(kind, moref value) of a snapshot, or (None, None) if it has no backing."""
    if not snapshot.provider_location:
        return None, None
    kind, _, ref = snapshot.provider_location.partition(':')
    return kind, ref
