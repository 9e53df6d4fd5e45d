"""Where an engine call's work went: counts and seconds by part, for benchmarks and curious readers.

Pass a :class:`Stats` as ``stats=`` to :func:`uap_core.deepfool` or :func:`uap_core.iter_universal_perturbation`
and read it afterwards (or between two reports). The parts:

- ``deepfool_calls``, ``deepfool_steps`` (counts): DeepFool runs, and their linearisation steps over all images;
- ``deepfool_forward``, ``deepfool_gradients`` (seconds): DeepFool's forward passes and its pulled-back gradients;
- ``deepfool`` (seconds): all of DeepFool, the two above included;
- ``checks`` (seconds): Algorithm 1's batched checks of which images v already does;
- ``fast_steps`` (seconds): ``fast``'s gradient steps;
- ``measure`` (seconds): the rate of v on all the images, measured at reports.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class Stats:
    """Counts and seconds by part; collecting costs a clock read per timed block."""

    counts: Counter[str] = field(default_factory=Counter)
    seconds: Counter[str] = field(default_factory=Counter)

    def count(self, part: str, n: int = 1) -> None:
        self.counts[part] += n

    @contextmanager
    def timing(self, part: str) -> Iterator[None]:
        """Add the seconds spent inside the block to ``part``."""
        began = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[part] += time.perf_counter() - began
