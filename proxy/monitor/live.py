"""The live side of the monitor: the in-memory ring of newest records, subscriptions with
bounded queues (a slow subscriber drops updates, never slows a request), live totals."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from itertools import islice

from proxy.monitor.record import RequestRecord


@dataclass(slots=True)
class MonitorStats:
    """Totals since the monitor opened, for the status header (cheap to read)."""

    requests: int = 0  # finished requests
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    in_flight: int = 0


class BoundedFeed:
    """A consumer's queue of record updates that never makes the producer wait: when
    it is full an update is dropped and counted in `dropped`."""

    def __init__(self, maxsize: int) -> None:
        self._items: deque[RequestRecord] = deque()
        self._maxsize = maxsize
        self.dropped = 0

    def put(self, record: RequestRecord) -> bool:
        if len(self._items) >= self._maxsize:
            self.dropped += 1
            return False
        self._items.append(record)
        return True

    def get_nowait_batch(self, limit: int | None = None) -> list[RequestRecord]:
        """Everything queued (up to `limit`), oldest first; never waits."""
        items = self._items
        if limit is None or limit >= len(items):
            batch = list(items)
            items.clear()
            return batch
        return [items.popleft() for _ in range(limit)]


class Subscription(BoundedFeed):
    """Updates (a record when it begins and again when it finishes) for one consumer.

    Use `async for record in sub` or poll `get_nowait_batch()` (the TUI does, a few times
    a second). When the queue is full the update is dropped and counted in `dropped`.
    """

    def __init__(self, hub: LiveHub, maxsize: int) -> None:
        super().__init__(maxsize)
        self._hub = hub
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False

    def put(self, record: RequestRecord) -> bool:
        if not super().put(record):
            return False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return True

    async def get(self) -> RequestRecord:
        """The next update; raises StopAsyncIteration once closed and drained."""
        while not self._items:
            if self.closed:
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.popleft()

    def __aiter__(self) -> AsyncIterator[RequestRecord]:
        return self

    async def __anext__(self) -> RequestRecord:
        return await self.get()

    def qsize(self) -> int:
        return len(self._items)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._hub.remove(self)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


class LiveHub:
    """Ring + subscribers. Runs on the event loop only; every method is O(subscribers)."""

    def __init__(self, ring_size: int = 5000) -> None:
        self.ring: deque[RequestRecord] = deque(maxlen=ring_size)
        self.subscribers: list[Subscription] = []

    def subscribe(self, maxsize: int = 1000) -> Subscription:
        sub = Subscription(self, maxsize)
        self.subscribers.append(sub)
        return sub

    def remove(self, sub: Subscription) -> None:
        try:
            self.subscribers.remove(sub)
        except ValueError:
            pass

    def add(self, record: RequestRecord) -> None:
        """A new (in-flight) record: into the ring and to every subscriber."""
        self.ring.append(record)
        for sub in self.subscribers:
            sub.put(record)

    def update(self, record: RequestRecord) -> None:
        """A record changed (finished): the ring already holds the same object."""
        for sub in self.subscribers:
            sub.put(record)

    def recent(self, n: int) -> list[RequestRecord]:
        """The newest `n` records, oldest first."""
        if n <= 0:
            return []
        if n >= len(self.ring):
            return list(self.ring)
        newest = list(islice(reversed(self.ring), n))
        newest.reverse()
        return newest

    def find(self, record_id: int) -> RequestRecord | None:
        for record in reversed(self.ring):
            if record.id == record_id:
                return record
        return None
