"""The HTTP connection below the app (SPEC §14): what aiohttp answers itself, before a
request reaches the edge middleware, answered in the client's protocol too.

- Framing errors (a lying or doubled Content-Length, Content-Length with
  Transfer-Encoding, bad chunks, an oversized header, an unknown Content-Encoding) get
  the protocol's error JSON instead of aiohttp's plain-text 400; the protocol comes
  from the request line when it could be read.
- A client that half-closes (shuts down its sending side) in the middle of its upload
  still gets its 400: the body read fails, the answer goes out, then the connection
  closes.

`EdgeRunner` is `web.AppRunner` with this connection handler."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import StreamReader, http_exceptions, web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest
from aiohttp.web_server import Server

from proxy.errors import ApiError, ErrorKind, Protocol, error_response, protocol_for_path

# The request line of the message being received, for the protocol of an error the
# parser raises before any request object exists.
_REQUEST_LINE = re.compile(rb"[A-Z]{3,10} (\S{1,2048}) HTTP/1\.[01]\r?\n")


class EdgeRequestHandler(RequestHandler):
    """aiohttp's connection protocol, with protocol-shaped parse errors and half-close."""

    _agproxy_target: bytes = b""
    _agproxy_payload: StreamReader | None = None  # the body of the newest request

    def data_received(self, data: bytes) -> None:
        if data[:1].isupper():
            match = _REQUEST_LINE.match(data)
            if match is not None:
                self._agproxy_target = match.group(1)
        super().data_received(data)
        if self._messages:
            self._agproxy_payload = self._messages[-1][1]

    def eof_received(self) -> bool | None:  # type: ignore[override]
        """The client shut down its side. Mid-request: fail the body read (the handler
        answers 400), keep the socket open for that answer, close after it."""
        payload = self._agproxy_payload
        if payload is None or payload.is_eof():
            return None  # between requests: close, as aiohttp does
        message = "the client closed the connection before the request body was complete"
        parser = self._parser
        try:
            if parser is not None:
                parser.feed_eof()
        except http_exceptions.HttpProcessingError as exc:
            message = f"{message}: {exc.message}"
        if not payload.is_eof():
            payload.set_exception(ConnectionError(message))
        self.close()  # after the answer
        return True

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status == 500:
            return super().handle_error(request, status, exc, message)
        self.log_debug("malformed request from %s: %s", request.remote, message)
        if request.writer.output_size > 0:
            raise ConnectionError("response already started: cannot send the error")
        detail = (message or (str(exc) if exc else "") or "malformed request").strip()
        kind = ErrorKind.TOO_LARGE if status == 413 else ErrorKind.INVALID_REQUEST
        err = ApiError(kind, f"malformed HTTP request: {detail}", status=status)
        response = error_response(self._agproxy_protocol(), err)
        response.force_close()
        return response

    def _agproxy_protocol(self) -> Protocol:
        from proxy.server.middlewares import canonical_path  # no import cycle at load

        target = self._agproxy_target.decode("latin-1").split("?", 1)[0]
        return protocol_for_path(canonical_path(target or "/"))


class EdgeServer(Server):
    def __call__(self) -> RequestHandler:
        return EdgeRequestHandler(self, loop=self._loop, **self._kwargs)


class EdgeRunner(web.AppRunner):
    """`web.AppRunner` whose connections are `EdgeRequestHandler`s."""

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        kwargs: dict[str, Any] = dict(server._kwargs)
        return EdgeServer(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **kwargs,
        )
