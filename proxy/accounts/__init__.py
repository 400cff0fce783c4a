"""Upstream accounts (SPEC §5) and the pool that picks among them (SPEC §7)."""

from proxy.accounts.model import Account, AccountKind, AccountState, QuotaInfo

__all__ = ["Account", "AccountKind", "AccountState", "QuotaInfo"]
