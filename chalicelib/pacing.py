"""Order writes paced below INDstocks' 10 per second per account, across every instance.

A 429 on an order write is an unknown outcome (the order may exist), so the relay must never
provoke one. Writes are spaced at least WRITE_SPACING apart through a shared schedule in the
state table; a write whose slot lies further ahead than the allowed wait is queued for the
sweep instead of being sent late or dropped, and leaves the schedule as it found it.

A slot only keeps its promise if the write goes out on time: a writer that wakes late would
land among the writers after it. One that is more than LATE_TOLERANCE behind its slot takes a
fresh one instead, and when it cannot keep one (none free within the allowed wait, or late five
times running) it writes nothing and the alert is queued for the sweep. So every write goes at
most LATE_TOLERANCE after a slot, slots are WRITE_SPACING apart, and any one second holds at most
floor((1 + 0.15) / 0.13) + 1 = 9 writes: under the limit whatever the jitter.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from chalicelib.state import StateTable

# 130 ms (≈ 7.7 writes a second): the margin under 10/s absorbs writers that wake a little late,
# and a burst of 100 still drains in 13 s.
WRITE_SPACING = 0.13
LATE_TOLERANCE = 0.15
# A writer late this many times in a row gives up its write for the sweep (the item is queued):
# a write outside its slot could be one too many in that second.
_MAX_FRESH_SLOTS = 5
_SCHEDULE = "order-writes"
# The longest a queued write holds its instrument's lane (a consumer that died cannot hold it
# longer); the queue normally sends it within seconds and releases the lane.
LANE_HOLD_SECONDS = 60


class WritePacer:
    def __init__(
        self,
        state: StateTable,
        *,
        max_wait_seconds: float,
        spacing: float = WRITE_SPACING,
        late_tolerance: float = LATE_TOLERANCE,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        schedule: str = _SCHEDULE,
    ):
        self._state = state
        self._max_wait = max_wait_seconds
        self._spacing = spacing
        self._late_tolerance = late_tolerance
        self._clock = clock
        self._sleep = sleep
        self._schedule = schedule

    def reserve(self, latest: float | None = None) -> float | None:
        """The moment this write may go, reserved in the shared schedule; None when that is
        after `latest` (default: the allowed wait from now): queue the write for the sweep."""
        now = self._clock()
        return self._state.reserve_slot(self._schedule, now, self._spacing, now + self._max_wait if latest is None else latest)

    def slot_operation(self, now: float, seen: float | None = None) -> tuple[dict[str, Any], float]:
        """This write's slot as one operation of a transaction (see StateTable.slot_operation)."""
        return self._state.slot_operation(self._schedule, now, self._spacing, seen)

    # Lanes: an instrument with a write waiting in the order queue sends its next alerts through
    # the queue too, so that they leave in arrival order (chalicelib/order_queue.py).
    def lane_free_operation(self, lane: str, now: float) -> dict[str, Any]:
        return self._state.lane_free_operation(lane, now)

    def hold_lane(self, lane: str, now: float) -> None:
        self._state.hold_lane(lane, now, LANE_HOLD_SECONDS)

    def hold_lane_operation(self, lane: str, now: float, *, writes: int = 1, if_free: bool = False) -> dict[str, Any]:
        return self._state.hold_lane_operation(lane, now, LANE_HOLD_SECONDS, writes=writes, if_free=if_free)

    def lane_busy(self, lane: str, now: float) -> bool:
        """Whether a write of the instrument waits in the order queue (one read)."""
        return self._state.lane_busy(lane, now)

    def release_lane(self, lane: str, writes: int = 1) -> None:
        self._state.release_lane(lane, writes)

    def latest_slot(self, arrival: float, limit: float | None = None) -> float:
        """The latest acceptable slot for a write whose wait started at `arrival`, no later than
        `limit` (the invocation's own deadline for starting a write)."""
        latest = arrival + self._max_wait
        return latest if limit is None else min(latest, limit)

    def wait_for(self, slot: float, latest: float | None = None) -> bool:
        """Sleep until `slot`, then make sure the write is not late for it: True, write now.

        A late writer takes a fresh slot rather than crowd the ones after it; fresh slots must fall
        by `latest` (default: the allowed wait counted from this call), so the whole wait stays
        inside the invocation's budget. False: no such slot, or late every time: do not write;
        queue the write for the sweep."""
        deadline = self._clock() + self._max_wait if latest is None else latest
        for _ in range(_MAX_FRESH_SLOTS):
            now = self._clock()
            if slot > now:
                self._sleep(slot - now)
            if self._clock() - slot <= self._late_tolerance:
                return True
            fresh = self.reserve(latest=deadline)
            if fresh is None:
                return False
            slot = fresh
        return False
