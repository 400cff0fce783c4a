"""What the Accounts tab needs besides the Controller: the result types it shows and
one-line wording of failures. All account work is the proxy's (proxy/onboarding.py),
reached through the app's Controller; the TUI adds no OAuth or quota logic."""

from __future__ import annotations

from proxy.control.api import ControlError, RefreshResult
from proxy.errors import UpstreamError, UpstreamErrorKind
from proxy.onboarding import AddResult, LoginError

__all__ = ["LOGIN_TIMEOUT_S", "AddResult", "LoginError", "RefreshResult", "error_text"]

LOGIN_TIMEOUT_S = 600.0  # the consent page can take a while (2FA, account picker)


def error_text(exc: BaseException) -> str:
    """One line for a notification (UpstreamError carries a user-facing message)."""
    if isinstance(exc, UpstreamError):
        if exc.kind is UpstreamErrorKind.INVALID_GRANT:  # the message is already plain words
            return exc.message[:200]
        return f"{exc.kind.value}: {exc.message[:200]}"
    if isinstance(exc, ControlError):
        return str(exc)
    return str(exc) or type(exc).__name__
