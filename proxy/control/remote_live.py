"""What an attached front end keeps of the daemon's live streams (SPEC §17): a mirror
ring of the newest records (answers `recent_records`) and bounded per-consumer feeds of
record updates and log lines, filled from the control socket's SSE events by
`RemoteController`."""

from __future__ import annotations

from collections import OrderedDict, deque

from proxy import jsoncodec
from proxy.control.logs import LOG_LINES
from proxy.monitor.live import BoundedFeed
from proxy.monitor.record import RequestRecord

MIRROR = 5000  # newest records kept locally


class RemoteFeed(BoundedFeed):
    """A bounded local queue of record updates (same contract as monitor subscriptions)."""

    def __init__(self, owner: RemoteLive, maxsize: int) -> None:
        super().__init__(maxsize)
        self._owner = owner

    def close(self) -> None:
        self._owner.feeds.discard(self)


class RemoteLogFeed:
    def __init__(self, owner: RemoteLive, maxsize: int) -> None:
        self._owner = owner
        self.pending: deque[tuple[int, str]] = deque(maxlen=maxsize)

    def drain(self) -> list[tuple[int, str]]:
        out = list(self.pending)
        self.pending.clear()
        return out

    def close(self) -> None:
        self._owner.log_feeds.discard(self)


class RemoteLive:
    def __init__(self) -> None:
        self.mirror: OrderedDict[int, RequestRecord] = OrderedDict()
        self.feeds: set[RemoteFeed] = set()
        self.log_feeds: set[RemoteLogFeed] = set()
        self.log_recent: deque[tuple[int, str]] = deque(maxlen=LOG_LINES)
        self.records_dropped = 0  # updates the daemon dropped for this client (it lagged)

    def on_records(self, event: str, data: str) -> None:
        """One SSE event of /v1/records/stream."""
        if event == "dropped":
            self.records_dropped = int(data)
            return
        if event != "records":
            return
        mirror = self.mirror
        for item in jsoncodec.loads(data):
            record = RequestRecord.from_dict(item)
            mirror[record.id] = record
            mirror.move_to_end(record.id)
            for feed in self.feeds:
                feed.put(record)
        while len(mirror) > MIRROR:
            mirror.popitem(last=False)

    def on_log(self, event: str, data: str) -> None:
        """One SSE event of /v1/log/stream."""
        if event != "log":
            return
        lines = [(int(level), str(line)) for level, line in jsoncodec.loads(data)]
        self.log_recent.extend(lines)
        for feed in self.log_feeds:
            feed.pending.extend(lines)

    def recent(self, n: int) -> list[RequestRecord]:
        if n <= 0:
            return []
        return list(self.mirror.values())[-n:]

    def subscribe_records(self, maxsize: int) -> RemoteFeed:
        feed = RemoteFeed(self, maxsize)
        self.feeds.add(feed)
        return feed

    def subscribe_log(self, maxsize: int) -> RemoteLogFeed:
        feed = RemoteLogFeed(self, maxsize)
        feed.pending.extend(self.log_recent)
        self.log_feeds.add(feed)
        return feed
