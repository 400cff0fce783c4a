"""A seeded, deterministic agproxy-tui for screenshots and snapshot tests: fixed
clock, fake traffic and accounts, a status that never moves, keys masked. It runs
over a throw-away AGPROXY_HOME and holds no secrets."""

from __future__ import annotations

import random
import sqlite3
import tempfile
from pathlib import Path

from proxy import jsoncodec
from proxy.accounts.catalogue import Catalogue, ModelEntry
from proxy.accounts.model import Account, AccountState, QuotaInfo
from proxy.accounts.store import AccountStore
from proxy.config.store import ConfigStore
from proxy.control.api import ControlStatus
from proxy.control.local import InProcessController
from proxy.keys.store import KeyStore, describe
from proxy.monitor import rollup
from proxy.monitor.record import Attempt, RequestRecord
from proxy.monitor.rollup import UsageRow
from proxy.paths import Paths
from proxy.routing import best_rule
from proxy.service import ProxyService
from proxy.upstream.oauth import INVALID_GRANT_TEXT
from tui.app import AgproxyApp

NOW = 1_768_471_200.0  # 2026-01-15 10:00:00 UTC
DEMO_KEY = "sk-demo0000000000000000000000000000"

_TRAFFIC: tuple[tuple[str, str, str, str, str, str, int, float, int, int], ...] = (
    # method, path, protocol, client model, upstream model, account, status, ms, in, out
    ("POST", "/v1/messages", "anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5", "alice@example.com", 200, 4210, 18234, 812),
    ("POST", "/v1/chat/completions", "openai", "gpt-4o", "gemini-2.5-pro", "bob@example.com", 200, 2890, 1204, 388),
    ("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", "gemini", "gemini-2.5-flash", "gemini-2.5-flash", "key …9f2c", 200, 1320, 20911, 1502),
    ("POST", "/v1/messages", "anthropic", "claude-opus-4-5", "claude-opus-4-5", "alice@example.com", 429, 310, 0, 0),
    ("POST", "/v1/responses", "openai", "gpt-5-codex", "gemini-2.5-pro", "bob@example.com", 200, 9120, 40210, 2203),
    ("POST", "/v1/messages/count_tokens", "anthropic", "claude-haiku-4-5", "", "", 200, 3, 0, 0),
    ("POST", "/v1/chat/completions", "openai", "gemini-3-pro", "gemini-3-pro", "carol@example.com", 503, 12040, 0, 0),
    ("GET", "/v1/models", "openai", "", "", "", 200, 2, 0, 0),
    ("POST", "/v1/chat/completions", "openai", "gpt-4o-mini", "gemini-2.5-flash", "bob@example.com", 400, 4, 0, 0),
    ("POST", "/v1/messages", "anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5", "alice@example.com", 200, 6120, 52110, 1290),
    ("POST", "/v1beta/models/gemini-2.5-pro:generateContent", "gemini", "gemini-2.5-pro", "gemini-2.5-pro", "carol@example.com", 200, 3310, 880, 420),
    ("POST", "/v1/messages", "anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5", "alice@example.com", 0, 0, 0, 0),
)  # fmt: skip


def _demo_rule(client_model: str, upstream_model: str) -> str:
    """The explanation a real resolution would give (SPEC §9), for the seeded rows."""
    if not upstream_model:
        return ""
    if client_model == upstream_model:
        return "offered as is"
    rule = best_rule(client_model)
    return f"family {rule.pattern}: {rule.note}" if rule else ""


def demo_records() -> list[RequestRecord]:
    out = []
    for i, (method, path, proto, cmodel, umodel, account, status, ms, tin, tout) in enumerate(
        _TRAFFIC
    ):
        started = NOW - 300 + i * 23.5
        rec = RequestRecord(
            id=int(started * 1_000_000),
            started=started,
            client="127.0.0.1",
            user_agent="claude-cli/2.1.197 (external, sdk-cli)"
            if proto == "anthropic"
            else "OpenAI/Python 3.54.0",
            method=method,
            path=path,
            protocol=proto,
            client_model=cmodel,
            upstream_model=umodel,
            mapping_rule=_demo_rule(cmodel, umodel),
            account=account,
            upstream_kind="gemini_api"
            if account.startswith("key")
            else "antigravity"
            if account
            else "",
            status=status,
            duration_ms=float(ms),
            ttfb_ms=float(ms) / 4 if status == 200 else None,
            stream="stream" in path or proto == "anthropic",
            input_tokens=tin,
            output_tokens=tout,
            request_headers={"content-type": "application/json", "x-api-key": "[redacted]"},
            request_body=jsoncodec.dumps(
                {
                    "model": cmodel,
                    "max_tokens": 1024,
                    "messages": [{"role": "user", "content": "Summarise the design doc"}],
                }
            ).decode(),
            response_body='{"error":{"type":"rate_limit_error","message":"all accounts are cooling down"}}'
            if status == 429
            else "",
        )
        if status == 429:
            rec.attempts = [
                Attempt("alice@example.com", 429, 180, "quota exhausted"),
                Attempt("bob@example.com", 429, 130, "quota exhausted"),
            ]
            rec.error = "all accounts are cooling down (retry in 42s)"
        elif status and account:
            rec.attempts = [Attempt(account, status, int(ms))]
        out.append(rec)
    return out


def _demo_catalogue(read_at: float) -> Catalogue:
    """What fetchAvailableModels tells a Google account this month (SPEC §9)."""
    offered = ("claude-sonnet-4-5", "claude-opus-4-5", "gemini-3-pro", "gemini-2.5-pro",
               "gemini-2.5-flash", "gemini-2.5-flash-lite")
    models = {m: ModelEntry(m) for m in offered} | {"chat_20706": ModelEntry("chat_20706", internal=True)}
    deprecated = {"claude-sonnet-4": "claude-sonnet-4-5", "gemini-2.0-flash": "gemini-2.5-flash"}
    return Catalogue(models, deprecated, read_at)


def demo_accounts() -> list[Account]:
    def quota(fractions: dict[str, tuple[float | None, float]]) -> dict[str, QuotaInfo]:
        return {
            m: QuotaInfo(f, NOW + r if r else None, NOW - 420) for m, (f, r) in fractions.items()
        }

    alice = Account.antigravity(
        "alice@example.com", "demo", id="a1c3e5f7", created_at=NOW - 86400 * 3
    )
    alice.quota = quota(
        {"claude-sonnet-4-5": (0.62, 7980), "gemini-2.5-pro": (0.9, 3600), "gemini-2.5-flash": (1.0, 0)}
    )
    alice.quota_fetched_at = NOW - 420
    alice.set_catalogue(_demo_catalogue(NOW - 420))
    alice.cooldowns["claude-opus-4-5"] = NOW + 42  # the 429 in the demo traffic
    alice.last_used, alice.requests, alice.errors = NOW - 12, 1843, 21
    bob = Account.antigravity("bob@example.com", "demo", id="b0b0b0b0", created_at=NOW - 86400 * 2)
    bob.quota = quota(
        {"claude-sonnet-4-5": (0.0, 2460), "gemini-2.5-pro": (0.15, 5400), "gemini-2.5-flash": (0.4, 5400)}
    )
    bob.quota_fetched_at = NOW - 95
    bob.set_catalogue(_demo_catalogue(NOW - 95))
    bob.state, bob.state_until, bob.state_reason = (
        AccountState.COOLING,
        NOW + 42,
        "429 quota exhausted",
    )
    bob.last_used, bob.requests, bob.errors = NOW - 40, 977, 64
    carol = Account.antigravity("carol@example.com", "demo", id="c4r01000", created_at=NOW - 86400)
    carol.state, carol.state_reason = AccountState.AUTH_FAILED, INVALID_GRANT_TEXT
    carol.last_used, carol.requests, carol.errors = NOW - 3600 * 5, 210, 12
    key = Account.gemini_key(
        "AIzaDemoDemoDemoDemoDemoDemo9f2c", id="9f2c0000", created_at=NOW - 3600
    )
    key.last_used, key.requests = NOW - 130, 66
    return [alice, bob, carol, key]


def demo_usage_db() -> sqlite3.Connection:
    """30 days of seeded traffic in the real rollup tables (an in-memory database)."""
    rng = random.Random(14)
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    for table in rollup.STEP:
        conn.execute(rollup.schema(table))
    people = [
        ("alice", "anthropic", "claude-sonnet-4-5", "alice@example.com"),
        ("alice", "anthropic", "claude-opus-4-5", "alice@example.com"),
        ("ci", "openai", "gemini-2.5-pro", "bob@example.com"),
        ("", "gemini", "gemini-2.5-flash", "key …9f2c"),
        ("bob", "openai", "gemini-2.5-flash", "bob@example.com"),
    ]
    records = []
    for i in range(6000):
        age = (i / 6000) ** 2 * 30 * 86400  # busier lately
        key, proto, model, account = people[rng.randrange(len(people))]
        hour = int((NOW - age) // 3600) % 24
        if hour < 7 and rng.random() < 0.7:
            continue
        status = 200 if rng.random() < 0.94 else rng.choice((429, 503, 400))
        records.append(
            RequestRecord(
                id=i + 1,
                started=NOW - age,
                protocol=proto,
                client_model=model,
                upstream_model=model,
                account=account,
                client_key=key,
                status=status,
                duration_ms=rng.uniform(300, 9000),
                ttfb_ms=rng.uniform(100, 900),
                input_tokens=rng.randrange(500, 40_000),
                output_tokens=rng.randrange(50, 2500),
            )
        )
    rollup.upsert(conn, records)
    return conn


def demo_keys(home: Path) -> KeyStore:
    store = KeyStore(home)
    store.load()
    for name, rpm, tokens, used in (
        ("alice", 30, 5_000_000, 1_204_331),
        ("bob", 0, 0, 0),
        ("ci", 120, 0, 88_120),
    ):
        store.add(name, rpm=rpm, tokens_per_day=tokens, models=["gemini-*"] if name == "ci" else [])
        k = store.by_name[name]
        k.prefix, k.created = f"sk-ag-{name[:2]}x4", NOW - 86400 * 9  # no last use: local time
        k.add_tokens(used, NOW)
    store.by_name["bob"].revoked = NOW - 3600
    return store


class DemoController(InProcessController):
    """The in-process controller over a never-started service, answering with the
    seeded accounts, traffic and a status that never moves."""

    def __init__(
        self,
        store: ConfigStore,
        accounts: AccountStore,
        records: list[RequestRecord],
        keys: KeyStore,
    ) -> None:
        super().__init__(ProxyService(store))
        self._demo_accounts = accounts
        self._records = records
        self._usage_db = demo_usage_db()
        self.service.keys = keys  # the never-started service: add/revoke/… act on the seeded keys
        for line in (
            "agproxy listening on http://127.0.0.1:8045 (auth: off)",
            "account bob@example.com is now cooling: 429 quota exhausted",
            f"account carol@example.com is now auth_failed: {INVALID_GRANT_TEXT}",
        ):
            level = "INFO   " if "listening" in line else "WARNING"
            self.log_hub.ring.append(
                (20 if "listening" in line else 30, f"10:00:00 {level} proxy: {line}")
            )

    def status(self) -> ControlStatus:
        return ControlStatus(
            running=True,
            host="127.0.0.1",
            port=8045,
            base_urls=["http://127.0.0.1:8045"],
            auth_mode="off",
            accounts_active=2,
            accounts_total=4,
            uptime_s=3723,
            requests=3096,
            errors=97,
            input_tokens=4_212_330,
            output_tokens=301_877,
            owner="tui",
            pid=4242,
            process_uptime_s=3723,
        )

    def accounts(self) -> list[Account]:
        return self._demo_accounts.list()

    def account(self, account_id: str) -> Account | None:
        return self._demo_accounts.by_id(account_id)

    def recent_records(self, n: int) -> list[RequestRecord]:
        return self._records[-n:]

    async def record(self, record_id: int) -> RequestRecord | None:
        return None

    async def usage(self, by: str, since: float, until: float | None = None) -> list[UsageRow]:
        return rollup.query_usage(self._usage_db, by, since, now=NOW)

    async def usage_series(
        self, since: float, step: int, until: float | None = None
    ) -> list[tuple[int, UsageRow]]:
        return rollup.query_series(self._usage_db, since, step, now=NOW)

    async def client_keys(self) -> list[dict[str, object]]:
        return [describe(k, NOW) for k in self.service.keys.list_keys()]  # the frozen clock


class DemoApp(AgproxyApp):
    """AgproxyApp over a temporary home with frozen time and seeded data."""

    def __init__(self, home: Path | None = None) -> None:
        self._tmp = None
        if home is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="agproxy-demo-")
            home = Path(self._tmp.name)
        paths = Paths(config_file=home / "config.toml", data_dir=home, log_dir=home / "logs")
        store = ConfigStore(paths)
        store.load()
        store.save(store.config.with_value("proxy.api_key", DEMO_KEY))
        demo_store = AccountStore(paths.accounts_dir)
        for acc in demo_accounts():
            demo_store.add(acc)
        self._records = demo_records()
        controller = DemoController(store, demo_store, self._records, demo_keys(home))
        super().__init__(paths, controller=controller)
        self.utc_clock = True
        self.mask_secrets = True

    def now(self) -> float:
        return NOW

    def install_logging(self) -> None:
        pass  # the Log tab shows the seeded lines only

    def _drain_once(self) -> bool:
        return False  # traffic is seeded, not live

    def on_mount(self) -> None:
        # Textual also runs AgproxyApp.on_mount (handlers run for every class in the MRO)
        from tui.widgets.traffic import TrafficPane

        self.main_query(TrafficPane).ingest(self._records)

    async def shutdown(self) -> None:
        await super().shutdown()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
