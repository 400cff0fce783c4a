"""One list of protocols (issue 11): `proxy.errors.Protocol`. Every other place that
names the protocols (the monitor's filter, the Traffic table's short labels, the
monitor's record via `protocol_for_path`) covers exactly that list."""

from __future__ import annotations

import pytest

from proxy.errors import Protocol, protocol_for_path
from proxy.monitor.filter import PROTOCOLS, FilterError, parse_filter
from tui.widgets.traffic_table import PROTOCOL_SHORT


def test_every_list_of_protocols_is_the_enum() -> None:
    names = {p.value for p in Protocol}
    assert set(PROTOCOLS) == names and len(PROTOCOLS) == len(names)
    assert set(PROTOCOL_SHORT) == names
    paths = ("/v1/chat/completions", "/v1/messages", "/v1beta/models/g:generateContent")
    assert {protocol_for_path(p).value for p in paths} == names


@pytest.mark.parametrize("protocol", [p.value for p in Protocol])
def test_the_filter_takes_each_protocol(protocol: str) -> None:
    [term] = parse_filter(f"protocol:{protocol.upper()}").terms
    assert term.params == (protocol,)


def test_the_filter_names_the_list_when_refusing() -> None:
    with pytest.raises(FilterError, match="openai, anthropic, gemini — got 'grpc'"):
        parse_filter("protocol:grpc")
