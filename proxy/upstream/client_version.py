"""The Antigravity client version agproxy presents (SPEC §9): the upstream gates
models on the version in the User-Agent. `upstream.user_agent = ""` sends the
current client form with ANTIGRAVITY_VERSION; `"auto"` also reads the newest
version from `upstream.version_url` (every 6 h, never below the constant); any
other value is sent verbatim."""

from __future__ import annotations

import logging
import platform
import re
import time
from functools import lru_cache

import aiohttp

log = logging.getLogger(__name__)

# The one place the client version lives: bump it when Google gates an older one.
ANTIGRAVITY_VERSION = "1.18.4"
DEFAULT_VERSION_URL = "https://antigravity-auto-updater-974169037036.us-central1.run.app"
VERSION_CHECK_S = 6 * 3600.0
_VERSION = re.compile(r"\b(\d+)\.(\d+)\.(\d+)\b")


@lru_cache(maxsize=1)
def _platform() -> str:
    """`<os>/<arch>` as the Antigravity client writes it: the OS must match the machine
    the account logged in from, or Google asks to re-verify."""
    system = {"darwin": "darwin", "windows": "windows"}.get(platform.system().lower(), "linux")
    machine = platform.machine().lower()
    arch = "arm64" if machine in ("arm64", "aarch64") else "amd64"
    return f"{system}/{arch}"


def user_agent_for(version: str) -> str:
    return f"antigravity/{version} {_platform()}"


def default_user_agent() -> str:
    return user_agent_for(ANTIGRAVITY_VERSION)


def parse_version(text: str) -> tuple[int, int, int] | None:
    match = _VERSION.search(text)
    return None if match is None else (int(match[1]), int(match[2]), int(match[3]))


def newer(a: str, b: str) -> str:
    """The higher of two dotted versions (unparsable ones lose)."""
    pa, pb = parse_version(a), parse_version(b)
    if pa is None:
        return b
    if pb is None:
        return a
    return a if pa >= pb else b


class ClientVersion:
    """What User-Agent the Antigravity calls carry, given `upstream.user_agent`."""

    def __init__(self) -> None:
        self.latest = ANTIGRAVITY_VERSION  # from version_url ("auto"), never below the constant
        self.checked_at = 0.0
        self.check_error = ""

    def user_agent(self, setting: str) -> str:
        setting = setting.strip()
        if not setting:
            return default_user_agent()
        if setting.lower() == "auto":
            return user_agent_for(self.latest)
        return setting

    def version(self, setting: str) -> str:
        """The version in use, for `agproxy models` and the TUI."""
        found = _VERSION.search(self.user_agent(setting))
        return found[0] if found else self.user_agent(setting)

    def due(self, setting: str, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return setting.strip().lower() == "auto" and now - self.checked_at >= VERSION_CHECK_S

    async def refresh(self, session: aiohttp.ClientSession, url: str, *, proxy: str | None = None) -> str:
        """Read the newest version from the release manifest; keeps the old one on failure."""
        self.checked_at = time.time()
        try:
            async with session.get(url or DEFAULT_VERSION_URL, proxy=proxy,
                                   timeout=aiohttp.ClientTimeout(total=10)) as resp:
                text = (await resp.content.read(65536)).decode("utf-8", "replace")
                if resp.status != 200:
                    raise ValueError(f"HTTP {resp.status}")
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            self.check_error = f"{type(exc).__name__}: {exc}"[:200]
            log.info("could not read the Antigravity version from %s: %s", url, self.check_error)
            return self.latest
        found = _VERSION.search(text)
        if found is None:
            self.check_error = "no version number in the release manifest"
            return self.latest
        self.check_error = ""
        self.latest = newer(found[0], ANTIGRAVITY_VERSION)
        return self.latest
