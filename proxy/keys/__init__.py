"""Client keys (SPEC §19): store (keys.json, hashes only) and the edge's checks."""

from proxy.keys.guard import CLIENT_KEY, check_key, check_model
from proxy.keys.store import ClientKey, KeyCommandError, KeyStore

__all__ = ["CLIENT_KEY", "ClientKey", "KeyCommandError", "KeyStore", "check_key", "check_model"]
