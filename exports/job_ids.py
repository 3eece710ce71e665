"""Job ids: an inverted millisecond clock, then a uuid4, so one organization's jobs of a UTC day are one range."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time

# Job ids sort newest first in a partition: an inverted millisecond clock, then a uuid4 (122 random bits).
_INVERTED_CLOCK_BASE = 10**13 - 1


def new_job_id(created_at: datetime) -> str:
    inverted = _INVERTED_CLOCK_BASE - int(created_at.timestamp() * 1000)
    return f"{inverted:013d}-{uuid.uuid4().hex}"


def job_ids_of_day(day: date) -> tuple[str, str]:
    """[first, end): the ids `new_job_id` gives from 00:00 to 24:00 UTC of `day`, one range of a partition."""
    start = datetime.combine(day, time.min, tzinfo=UTC)
    start_ms = int(start.timestamp()) * 1000
    end_ms = start_ms + 86_400_000
    # Inverted: the day's last millisecond has the smallest prefix; the bare prefix after its first one
    # sorts after every id of that first millisecond ("…5-<hex>" < "…6").
    return f"{_INVERTED_CLOCK_BASE - (end_ms - 1):013d}", f"{_INVERTED_CLOCK_BASE - start_ms + 1:013d}"
