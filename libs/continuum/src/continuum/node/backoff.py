"""When to restart something that died: one policy for services and servers.

The delay doubles from half a second up to a cap, and a process that ran
long enough before dying counts as healthy again (its next crash waits only
half a second), so a crash loop slows down while a rare crash heals fast.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class RestartPolicy:
    max_backoff: float = 30.0
    stable_after: float = 30.0
    restarts: int = 0
    _started: float = field(default_factory=time.monotonic, repr=False)

    def started(self) -> None:
        """Call when the process (re)starts."""
        self._started = time.monotonic()

    def exited(self) -> float:
        """Count an exit; return the seconds to wait before the next start."""
        if time.monotonic() - self._started > self.stable_after:
            self.restarts = 0
        self.restarts += 1
        return self.delay()

    def delay(self) -> float:
        return float(min(0.5 * 2 ** max(self.restarts - 1, 0), self.max_backoff))
