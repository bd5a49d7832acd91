"""Progress of long work, in a terminal and out of one.

In a terminal: a rich bar with the count, the elapsed time and an estimate
of what is left. Anywhere else (a CI log, ``nohup``, a pipe) rich draws
nothing at all until the end, so a 15-minute training run looked dead: there
a plain line is written every few seconds instead, with the same count,
note and estimate.
"""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

#: How often a line is written outside a terminal.
EVERY_S = 5.0


def eta(completed: float, total: float | None, elapsed: float) -> float | None:
    """Seconds left at the rate so far (``completed`` in ``elapsed`` seconds),
    or None when it cannot be told yet."""
    if not total or completed <= 0 or elapsed <= 0 or completed >= total:
        return None
    return elapsed * (total - completed) / completed


def duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Work:
    """``with Work(console, "training", total=300) as work: work.update(120, note="loss 2.5")``"""

    def __init__(
        self,
        console: Console,
        description: str,
        total: float | None = None,
        *,
        every_s: float = EVERY_S,
        unit: str = "",
    ) -> None:
        self.console = console
        self.description = description
        self.total = total
        self.completed = 0.0
        self.note = ""
        self.unit = unit
        self.every_s = every_s
        self._started = time.monotonic()
        self._written = 0.0
        #: When the first report came, and how far it was: the rate is measured
        #: from there, so loading a model first does not inflate the estimate.
        self._first: tuple[float, float] | None = None
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._estimated = False

    def __enter__(self) -> Work:
        self._started = time.monotonic()
        if self.console.is_terminal:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[note]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task(self.description, total=self.total, note="")
        return self

    def update(
        self,
        completed: float,
        total: float | None = None,
        *,
        note: str = "",
        description: str | None = None,
    ) -> None:
        if self._first is None or (total is not None and total != self.total):
            # The first report, or a new total (work that first measured or probed
            # now counts steps): the rate is measured from here.
            self._first = (time.monotonic(), completed)
        self.completed = completed
        self.total = total if total is not None else self.total
        self.note = note
        self.description = description or self.description
        self._estimate()
        if self._bar is not None and self._task is not None:
            self._bar.update(
                self._task,
                completed=completed,
                total=self.total,
                note=note,
                description=self.description,
            )
        elif time.monotonic() - self._written >= self.every_s:
            self._write()

    def left(self) -> float | None:
        """Seconds left at the rate measured since the first report."""
        if self._first is None or not self.total:
            return None
        since, at = self._first
        return eta(self.completed - at, self.total - at, time.monotonic() - since)

    def _estimate(self) -> None:
        """Say once, as soon as the rate is known, how long the whole will take."""
        left = self.left()
        if self._estimated or left is None or self._first is None:
            return
        if time.monotonic() - self._first[0] < 1.0:
            return  # too soon to tell
        self._estimated = True
        total = time.monotonic() - self._started + left
        self.console.print(
            f"{self.description}: expected to take about {duration(total)} in all",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    def line(self) -> str:
        """``training: 120/300 steps (40%), loss 2.512, 12 s so far, about 18 s left``"""
        elapsed = time.monotonic() - self._started
        unit = f" {self.unit}" if self.unit else ""
        if self.total:
            share = f" ({self.completed / self.total:.0%})"
            count = f"{self.completed:g}/{self.total:g}{unit}{share}"
        else:
            count = f"{self.completed:g}{unit}"
        parts = [f"{self.description}: {count}"]
        if self.note:
            parts.append(self.note)
        parts.append(f"{duration(elapsed)} so far")
        left = self.left()
        if left is not None:
            parts.append(f"about {duration(left)} left")
        return ", ".join(parts)

    def _write(self) -> None:
        self._written = time.monotonic()
        self.console.print(self.line(), markup=False, highlight=False, soft_wrap=True)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._bar.__exit__(kind, error, tb)
        elif kind is None:
            self._write()  # the last state, whatever the interval
