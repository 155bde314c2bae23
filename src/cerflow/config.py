"""One settings object for every mode: embedded default and production differ only by env vars."""

from __future__ import annotations

import os
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

DEFAULT_DATA_DIR = Path.home() / ".local" / "share" / "cerflow"
_DEV_SECRET = "dev-insecure-change-me"

# Every placeholder secret shipped anywhere (code default, deploy/.env.example,
# deploy/k8s/secret.example.yaml): anyone who has read the repository can sign tokens with
# them. tests/test_config.py scans deploy/ and fails if a new placeholder is not listed here.
PLACEHOLDER_SECRETS: frozenset[str] = frozenset(
    {
        _DEV_SECRET,
        "change-me-secret-key",
        "change-me-to-a-long-random-value",
        "change-me",
        "changeme",
    }
)
# Outside development/testing the secret must be at least this long and use this many
# distinct characters. 32 characters of a URL-safe alphabet is >= 192 bits if random; the
# distinct-character floor rejects "kkkk..." or "abcabc..." that pass the length test
# (token_urlsafe(48) yields 64 characters with ~40 distinct ones, so it never trips).
SECRET_MIN_LENGTH = 32
SECRET_MIN_DISTINCT_CHARS = 10
_SECRET_HOWTO = (
    'generate one with `python -c "import secrets; print(secrets.token_urlsafe(48))"` '
    "and set it as CERFLOW_SECRET_KEY"
)


def secret_key_problem(value: str) -> str | None:
    """Why `value` is unfit to sign production tokens, or None; never quotes the value."""
    if value in PLACEHOLDER_SECRETS or "change-me" in value.lower():
        return "is a placeholder shipped with cerflow (public, so anyone can forge tokens)"
    if len(value) < SECRET_MIN_LENGTH:
        return f"is shorter than {SECRET_MIN_LENGTH} characters"
    if len(set(value)) < SECRET_MIN_DISTINCT_CHARS:
        return f"uses fewer than {SECRET_MIN_DISTINCT_CHARS} distinct characters (guessable)"
    return None


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TESTING = "testing"
    PRODUCTION = "production"


class _FileVariables(PydanticBaseSettingsSource):
    """`CERFLOW_<NAME>_FILE=/path`: the setting's value is that file's content.

    Docker and Kubernetes secrets arrive as mounted files (and Vault agents write files),
    so a secret never has to sit in the environment, where `docker inspect`, `/proc` and
    crash reports can read it. A variable set directly wins over its `_FILE` twin."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for name in self.settings_cls.model_fields:
            env = f"CERFLOW_{name.upper()}"
            path = os.environ.get(f"{env}_FILE")
            if not path or env in os.environ:
                continue
            try:
                found[name] = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
            except OSError as exc:
                raise ValueError(
                    f"{env}_FILE={path}: cannot be read ({exc.strerror or exc}); mount the "
                    "secret file there or unset the variable"
                ) from None
        return found


class Settings(BaseSettings):
    """Read from `CERFLOW_*` env vars, `CERFLOW_*_FILE` files and an optional `.env` file."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            _FileVariables(settings_cls),
            dotenv_settings,
            file_secret_settings,
        )

    model_config = SettingsConfigDict(
        env_prefix="CERFLOW_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        # Errors would otherwise print the raw input (secret key, URLs with passwords).
        hide_input_in_errors=True,
    )

    environment: Environment = Environment.DEVELOPMENT
    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""  # empty -> SQLite file under data_dir
    db_pool_size: int = 10
    db_max_overflow: int = 20
    db_pool_timeout: float = 10.0
    db_connect_timeout_seconds: int = Field(default=5, ge=1, le=120)
    worker_liveness_seconds: float = Field(default=60.0, ge=10.0)
    worker_startup_grace_seconds: float = Field(default=300.0, ge=10.0)
    db_pool_recycle: int = 1800
    db_echo: bool = False

    redis_url: str | None = None
    cache_ttl_seconds: int = 3600
    # Every Redis key starts with this (tests use a per-test prefix and flush it).
    redis_key_prefix: str = "cerflow:"
    # A failed Redis call bypasses Redis for this long before the next attempt.
    redis_retry_seconds: float = 2.0
    redis_socket_timeout: float = 0.5
    cache_max_items: int = 10_000  # in-memory cache (embedded default) only

    # HTTP service (issue 5).
    cors_allow_origins: list[str] = Field(default_factory=list)
    max_body_bytes: int = 1_000_000
    access_token_ttl_seconds: int = 900
    refresh_token_ttl_seconds: int = 14 * 24 * 3600
    jwt_issuer: str = "cerflow"
    rate_limit_window_seconds: int = 60
    rate_limit_per_user: int = 600  # requests per window per authenticated principal
    rate_limit_per_ip: int = 1200  # requests per window per client address
    # Failed sign-ins allowed per account and per client address in a window (auth/throttle.py).
    login_max_failures_per_account: int = Field(default=10, ge=1)
    login_max_failures_per_ip: int = Field(default=100, ge=1)
    login_failure_window_seconds: int = Field(default=900, ge=1)
    # Browser sessions (the web pages): signed HttpOnly cookie, this long after sign-in.
    web_session_seconds: int = Field(default=8 * 3600, ge=60)
    # Peers whose X-Forwarded-For/-Proto are believed (comma-separated IPs/CIDRs, or "*"
    # when only the proxy can reach the API). Empty: never, not even from loopback, so a
    # client cannot choose the address the per-IP rate limit and the logs see.
    trusted_proxies: str = ""
    # uvicorn's graceful shutdown: in-flight requests get this long after SIGTERM.
    shutdown_grace_seconds: int = Field(default=25, ge=1)
    log_level: str = "INFO"
    log_json: bool | None = None  # None -> JSON in production, console otherwise
    sentry_dsn: SecretStr | None = None
    sentry_traces_sample_rate: float = Field(default=0.0, ge=0.0, le=1.0)

    openfda_base_url: str = "https://api.fda.gov"
    openfda_api_key: SecretStr | None = None
    # Published limits: 240 req/min and 1,000/day without a key; 240/min, 120,000/day with one.
    openfda_requests_per_minute: int = 240
    openfda_timeout: float = 30.0
    openfda_max_retries: int = 5
    # Whole-database background counts (issue 11, 1b) are kept this long in the cache.
    openfda_background_cache_seconds: int = Field(default=7 * 24 * 3600, ge=1)

    eudamed_base_url: str = "https://ec.europa.eu/tools/eudamed/api"
    eudamed_datalake_url: str = "https://api.datalake.sante.service.ec.europa.eu/eudamed"
    eudamed_api_key: SecretStr | None = None

    # Literature sources (issue 14). NCBI allows 3 requests/s without an API key, 10 with one.
    ncbi_base_url: str = "https://eutils.ncbi.nlm.nih.gov/entrez/eutils"
    ncbi_api_key: SecretStr | None = None
    ncbi_tool: str = "cerflow"
    ncbi_email: str = ""
    europepmc_base_url: str = "https://www.ebi.ac.uk/europepmc/webservices/rest"
    ctgov_base_url: str = "https://clinicaltrials.gov/api/v2"
    literature_timeout: float = Field(default=30.0, gt=0)
    literature_max_retries: int = Field(default=5, ge=1)
    literature_max_records: int = Field(default=10_000, ge=1)
    # LLM screening suggestions (off unless on AND llm_base_url is set): titles and
    # abstracts go to the LLM; a suggestion never counts as a decision.
    literature_llm_suggestions: bool = False
    literature_llm_max_per_request: int = Field(default=25, ge=1, le=500)

    secret_key: SecretStr = SecretStr(_DEV_SECRET)

    # Signal thresholds (Evans 2001; ROR025; IC025; EB05), settings so a QPPV can tune them.
    signal_prr_min: float = 2.0
    signal_chi2_min: float = 4.0
    signal_min_count: int = 3
    signal_ror025_min: float = 1.0
    signal_ic025_min: float = 0.0
    signal_eb05_min: float = 2.0
    # What disproportionality compares a product with: "store" (every report of the same
    # kind in the local store) or "openfda" (the whole FAERS database counted by openFDA).
    signal_background: Literal["store", "openfda"] = "store"
    # Signals of disproportionate reporting (issue 11, cerflow.analysis.sdr).
    signal_fdr_q: float = Field(default=0.05, gt=0.0, lt=1.0)
    signal_min_product_reports: int = Field(default=50, ge=0)
    background_min_reports: int = Field(default=1000, ge=0)
    background_max_product_share: float = Field(default=0.2, gt=0.0, le=1.0)
    # Disk budget of the database-wide signal cache (data_dir/cache/signals): one entry
    # is ~60 bytes per product-event pair (600 MB at 10M reports), so eight entries of a
    # full-history store could fill a disk. Least recently used entries go first; the
    # newest entry is always kept.
    signal_cache_max_gb: float = Field(default=4.0, gt=0.0)
    # Licensed MedDRA ASCII files (llt.asc, pt.asc, hlt.asc, hlt_pt.asc, hlgt_hlt.asc,
    # soc_hlgt.asc, mdhier.asc): HLT-level signals and events by SOC. Never shipped.
    meddra_dir: Path | None = None

    # Monthly series (issue 11 item 5): a change point needs this many months on each
    # side, so a one-month spike is an outlier and never a level shift.
    series_changepoint_min_months: int = Field(default=6, ge=2)
    # Robust z (modified z of Iglewicz-Hoaglin) above which a month is an isolated outlier.
    series_outlier_z: float = Field(default=3.5, gt=0)
    # The last months of a series, discussed as possibly incomplete (reports arrive late).
    series_reporting_lag_months: int = Field(default=3, ge=0)

    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    llm_price_per_1k_input: float = 0.00015
    llm_price_per_1k_output: float = 0.0006

    # Background jobs (issue 6). Broker = redis_url unless set; no broker -> in-process pool.
    broker_url: SecretStr | None = None
    celery_queue_prefix: str = ""  # tests use a unique prefix per session
    jobs_inprocess_workers: int = 2
    jobs_soft_time_limit_seconds: int = 1500
    jobs_time_limit_seconds: int = 1800
    # Must stay well above jobs_time_limit_seconds, or Redis redelivers long tasks.
    broker_visibility_timeout_seconds: int = 4 * 3600
    jobs_max_retries: int = 5
    jobs_retry_backoff_seconds: float = 2.0
    jobs_retry_backoff_max_seconds: float = 300.0
    jobs_heartbeat_seconds: float = 10.0
    # A queued/running job no worker touched for this long is re-sent by the sweeper.
    jobs_stale_after_seconds: float = 300.0
    jobs_sweep_interval_seconds: float = 60.0
    # `cerflow worker` serves /health/live, /health/ready and /metrics here; 0 = off.
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)
    report_worker_max_tasks_per_child: int = 20
    watch_refresh_interval_seconds: int = 24 * 3600
    webhook_timeout_seconds: float = 10.0
    webhook_max_attempts: int = 5
    webhook_retry_backoff_seconds: float = 5.0
    webhook_disable_after_failures: int = 10
    # Internal receivers webhooks may target (CIDRs or exact host names); everything else
    # must resolve to public addresses only (webhooks/url_policy.py).
    webhook_allowed_targets: list[str] = Field(default_factory=list)
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_security: str = "starttls"  # starttls | ssl | none
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "cerflow@localhost"
    smtp_timeout_seconds: float = 10.0
    # Only honoured when environment == testing: lets system tests inject faults/delays.
    jobs_allow_fault_injection: bool = False

    # Bounds on what a source archive may inflate to (sources/limits.py: real FAERS/MAUDE
    # sizes and why): decompressed bytes per member, members per zip, bytes per row.
    source_max_member_bytes: int = Field(default=8 << 30, ge=1)
    source_max_members: int = Field(default=64, ge=1)
    source_max_line_bytes: int = Field(default=1 << 20, ge=1)

    require_shared_data: bool = Field(default=False)

    # Months from a report's date to the next update of the clinical evaluation when the
    # CER inputs set no date or interval (MEDDEV 2.7/1 rev 4 6.2.3: at least annually for
    # significant risks or a technology not well established; 2-5 years, justified, else).
    cer_update_interval_months: int = Field(default=12, ge=1, le=60)

    # Which program writes a report's PDF (issue 17 goal 4): Typst (report/pdf_typst.py, a
    # fraction of a second) or WeasyPrint from the report's HTML (report/pdf.py, seconds on
    # a large report). Both give tagged PDF/A-3b with facts.json attached and the same
    # sections, tables and charts; Typst's file also claims PDF/UA-1.
    pdf_renderer: Literal["typst", "weasyprint"] = "typst"

    @model_validator(mode="after")
    def _refuse_weak_secret(self) -> Settings:
        # Development and testing keep short convenient secrets; every other environment
        # signs real tokens, so a guessable or published key is an admin login for anyone.
        if self.environment in (Environment.DEVELOPMENT, Environment.TESTING):
            return self
        problem = secret_key_problem(self.secret_key.get_secret_value())
        if problem is not None:
            raise ValueError(
                f"CERFLOW_SECRET_KEY {problem}; refused with "
                f"CERFLOW_ENVIRONMENT={self.environment.value}: {_SECRET_HOWTO}"
            )
        return self

    @property
    def effective_broker_url(self) -> str | None:
        if self.broker_url is not None:
            return self.broker_url.get_secret_value()
        return self.redis_url

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'cerflow.db'}"


@lru_cache
def get_settings() -> Settings:
    return Settings()
