"""The control socket's live streams (SPEC §17): record updates and log lines as SSE,
each client fed by a bounded subscription. A client that reads slowly (or not at all)
fills its queue and loses the updates beyond it, counted and reported to it in a
`dropped` event; a request never waits for a stream."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web

from proxy import jsoncodec
from proxy.control.api import ControlStatus
from proxy.control.local import InProcessController
from proxy.monitor.record import RequestRecord

STREAM_QUEUE = 5000  # record updates buffered per stream client before dropping
STREAM_BATCH = 500  # records in one SSE event at most
# After the first update of a quiet stream, wait this long and send what arrived meanwhile
# as one event: under load one write (and one parse in the attached TUI) carries many
# updates instead of one each, and a record that began and finished within the window
# is sent once. A person cannot see 50 ms; the TUI drains its feed a few times a second.
STREAM_COALESCE_S = 0.05
LOG_QUEUE = 2000
KEEPALIVE_S = 15.0


class LiveStreams:
    """The open SSE responses of one control socket and the feeds behind them."""

    def __init__(self, controller: InProcessController) -> None:
        self.controller = controller
        self.responses: set[web.StreamResponse] = set()
        self.record_subs: set[Any] = set()  # the bounded feeds of /v1/records/stream clients
        self.dropped_closed = 0  # updates dropped for stream clients that left

    def status(self, st: ControlStatus) -> ControlStatus:
        """`st` with the record streams' bounds: how many clients, the longest queue
        waiting for one, and the updates dropped for slow ones."""
        subs = list(self.record_subs)
        st.record_streams = len(subs)
        st.stream_backlog = max((s.qsize() for s in subs), default=0)
        st.stream_dropped = self.dropped_closed + sum(s.dropped for s in subs)
        return st

    async def close(self) -> None:
        for resp in list(self.responses):
            with contextlib.suppress(Exception):
                await resp.write_eof()

    async def _open(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await resp.prepare(request)
        self.responses.add(resp)
        return resp

    async def records(self, request: web.Request) -> web.StreamResponse:
        recent = max(0, min(int(request.query.get("recent", "0")), 5000))
        resp = await self._open(request)
        sub = self.controller.subscribe_records(STREAM_QUEUE)
        self.record_subs.add(sub)
        try:
            if recent:
                await self._send_records(resp, self.controller.recent_records(recent))
            reported = 0
            while True:
                try:
                    first = await asyncio.wait_for(sub.get(), KEEPALIVE_S)
                except TimeoutError:
                    await resp.write(b": keep-alive\n\n")
                    continue
                except StopAsyncIteration:
                    break
                await asyncio.sleep(STREAM_COALESCE_S)
                batch = [first, *sub.get_nowait_batch(STREAM_BATCH - 1)]
                await self._send_records(resp, batch)
                if sub.dropped != reported:
                    reported = sub.dropped
                    await resp.write(b"event: dropped\ndata: %d\n\n" % reported)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            sub.close()
            self.record_subs.discard(sub)
            self.dropped_closed += sub.dropped
            self.responses.discard(resp)
        return resp

    @staticmethod
    async def _send_records(resp: web.StreamResponse, batch: list[RequestRecord]) -> None:
        # an update is the record object itself, so its begin and finish updates in one
        # batch both show its latest state: send it once
        unique = list({r.id: r for r in batch}.values())
        payload = jsoncodec.dumps([r.to_dict() for r in unique])
        await resp.write(b"event: records\ndata: " + payload + b"\n\n")

    async def log(self, request: web.Request) -> web.StreamResponse:
        recent = max(0, min(int(request.query.get("recent", "2000")), 2000))
        sub = self.controller.log_hub.subscribe(LOG_QUEUE, recent=recent)
        resp = await self._open(request)
        try:
            while True:
                if not sub.pending:
                    try:
                        await asyncio.wait_for(sub.wait(), KEEPALIVE_S)
                    except TimeoutError:
                        await resp.write(b": keep-alive\n\n")
                        continue
                if sub.closed:
                    break
                lines = sub.drain()
                if lines:
                    await resp.write(b"event: log\ndata: " + jsoncodec.dumps(lines) + b"\n\n")
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            sub.close()
            self.responses.discard(resp)
        return resp
