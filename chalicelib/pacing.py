"""Order writes paced below INDstocks' 10 per second per account, across every instance.

A 429 on an order write is an unknown outcome (the order may exist), so the relay must never
provoke one. Writes are spaced at least WRITE_SPACING apart through a shared schedule in the
state table; a write whose slot lies further ahead than the allowed wait is queued for the
sweep instead of being sent late or dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from chalicelib.state import StateTable

# 150 ms (≈ 6.7 writes a second): well under the limit, because a write whose sender wakes a
# little late lands closer to the next one; the margin absorbs that jitter.
WRITE_SPACING = 0.15


class WritePacer:
    def __init__(
        self,
        state: StateTable,
        *,
        max_wait_seconds: float,
        spacing: float = WRITE_SPACING,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self._state = state
        self._max_wait = max_wait_seconds
        self._spacing = spacing
        self._clock = clock
        self._sleep = sleep

    def wait_for_slot(self) -> bool:
        """Block until this write may go; False when that would take longer than allowed."""
        now = self._clock()
        slot = self._state.reserve_slot("order-writes", now, self._spacing)
        if slot - now > self._max_wait:
            return False
        if slot > now:
            self._sleep(slot - now)
        return True
