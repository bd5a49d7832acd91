"""When an event happened, as seconds since the epoch."""

from __future__ import annotations

import time
from datetime import datetime

from continuum.events.envelope import Envelope


def event_time(envelope: Envelope) -> float:
    """The event's ``time`` attribute (now, if it cannot be read)."""
    try:
        return datetime.fromisoformat(envelope.time.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return time.time()
