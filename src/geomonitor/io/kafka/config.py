"""Configuration of the stream consumers and producer: a TOML file and ``GEOMONITOR_*``
environment variables (which win), validated by pydantic-settings.

The file has sections ``[kafka]``, ``[topics]``, ``[store]``, ``[thresholds]`` and ``[run]``
(see ``consumers/geomonitor.example.toml``); every key can be overridden by
``GEOMONITOR_<SECTION>_<KEY>``, and ``GEOMONITOR_DB`` also sets the store path. An unknown
section or key, or a value of the wrong type, is a :class:`ConfigError` naming it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from ...model.errors import ConfigError, StreamError
from ...rules.config import DeviceConfig, EngineConfig, FeedConfig
from ...store.domain import DB_ENV, default_db_path

#: The variables the settings being built read (set by :func:`load_config`).
_ENV: ContextVar[Mapping[str, str]] = ContextVar("geomonitor_env", default=os.environ)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


Protocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
Mechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


class KafkaSection(_Section):
    bootstrap_servers: str = "localhost:9092"
    #: How long to wait for a broker to answer before giving up with a clear message.
    connect_timeout_s: float = 10.0
    # TLS and SASL: passwords only from an environment variable or a file, never here.
    security_protocol: Protocol = "PLAINTEXT"
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_password_env: str | None = None
    ssl_password_file: str | None = None
    sasl_mechanism: Mechanism | None = None
    sasl_username: str | None = None
    sasl_password_env: str | None = None
    sasl_password_file: str | None = None
    group_id: str = "geomonitor"
    client_id: str = "geomonitor"
    max_poll_records: int = 20_000
    poll_timeout_ms: int = 1000
    max_poll_interval_ms: int = 300_000
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000


class TopicsSection(_Section):
    fixes: str = "geomonitor.fixes"
    anpr: str = "geomonitor.anpr"
    candidates: str = "geomonitor.candidates"
    device_events: str = "geomonitor.device-events"
    deadletter: str = "geomonitor.deadletter"


class StoreSection(_Section):
    path: str | None = None


class ThresholdsSection(_Section):
    default_accuracy_m: float = EngineConfig.default_accuracy_m
    curfew_no_signal_minutes: float = EngineConfig.curfew_no_signal_minutes
    no_contact_minutes: float = DeviceConfig.no_contact_minutes
    low_battery_pct: float = DeviceConfig.low_battery_pct
    curfew_good_accuracy_m: float = EngineConfig.curfew_good_accuracy_m
    curfew_min_away_minutes: float = EngineConfig.curfew_min_away_minutes
    spike_speed_kmh: float = EngineConfig.spike_speed_kmh
    curfew_lateness_minutes: float = EngineConfig.curfew_lateness_minutes
    absence_corridor_m: float = EngineConfig.absence_corridor_m
    max_future_minutes: float = 10.0


class InputSection(_Section):
    #: Fields of fixes and reads that the formats do not name, kept all the same (others
    #: are dropped: data minimisation).
    keep_fields: list[str] = []


class RunSection(_Section):
    log_every_s: float = 30.0
    idle_exit_s: float | None = None


class RetentionSection(_Section):
    """The retention schedule, in days (:mod:`geomonitor.app.retention`)."""

    #: a subject's fixes and vehicle reads, after their last order ends or consent ends
    positions_days: int = Field(default=90, ge=0)
    #: evidence of a candidate decided with an outcome other than a dismissal
    evidence_days: int = Field(default=2190, ge=0)
    #: rejected records (their raw text may hold a position)
    rejected_days: int = Field(default=30, ge=0)


class MapsSection(_Section):
    """Where map exports and the desk's maps get their streets (:mod:`geomonitor.app.maps`).

    ``tiles``: a tile server's URL template (``https://tiles.force.example/{z}/{x}/{y}.png``),
    used by every map (exports, online or ``--offline``, and the desk, whose content policy
    then allows that server); the shipped district and ward boundaries are drawn over it,
    so a map still shows where it is when the tiles cannot be reached. None: exports use
    OpenStreetMap online, and only the boundaries offline and on the desk."""

    tiles: str | None = None
    #: Credit for the tiles, shown in the map's corner (licences usually require it).
    attribution: str = "map tiles: the force's tile server"

    @field_validator("tiles")
    @classmethod
    def _tile_url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        u = urlsplit(v)
        if u.scheme not in ("http", "https") or not u.netloc:
            raise ValueError("an http or https URL")
        if not all(p in v for p in ("{z}", "{x}", "{y}")):
            raise ValueError("a URL template with {z}, {x} and {y}")
        return v


class NotifySection(_Section):
    """Mail to responsible officers and duty inboxes (:mod:`geomonitor.app.notify`)."""

    #: The SMTP server; none: nothing is sent (the outbox still fills).
    host: str | None = None
    port: int = 587
    #: Upgrade the connection with STARTTLS before logging in (refused if the server
    #: cannot); ``tls_cafile``: the CA to trust instead of the system's.
    starttls: bool = True
    tls_cafile: str | None = None
    username: str | None = None
    # The password only from an environment variable or a file, never here.
    password_env: str | None = None
    password_file: str | None = None
    sender: str = "geomonitor@localhost"
    #: The desk's address as officers reach it (links in the mail).
    desk_url: str = "http://127.0.0.1:8000"
    #: Severities that are mailed.
    severities: list[Literal["critical", "high", "medium", "low"]] = ["critical", "high"]
    #: Unacknowledged this many minutes after the mail: escalated to the duty inbox.
    escalate_after_minutes: dict[str, float] = {"critical": 15.0, "high": 60.0}
    #: Evidence older than this when the candidate is recorded is not news: not mailed.
    max_age_hours: float = 72.0
    #: Back-off while the mail server is down: first wait, doubling up to the longest.
    retry_first_s: float = 30.0
    retry_max_s: float = 1800.0
    timeout_s: float = 10.0
    #: How often the sender looks for work.
    poll_s: float = 5.0


class _Environment(EnvSettingsSource):
    """``GEOMONITOR_*`` variables from a given mapping (the process's, or a test's)."""

    def __init__(self, settings_cls: type[BaseSettings], env: Mapping[str, str]):
        self._given = {k: v for k, v in env.items() if k != DB_ENV}
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {k.lower(): v for k, v in self._given.items()}  # names are case-insensitive


class Settings(BaseSettings):
    """The configuration as written: a TOML file's sections and ``GEOMONITOR_*`` variables."""

    model_config = SettingsConfigDict(
        env_prefix="GEOMONITOR_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        case_sensitive=False,
        extra="forbid",
    )

    kafka: KafkaSection = KafkaSection()
    topics: TopicsSection = TopicsSection()
    store: StoreSection = StoreSection()
    thresholds: ThresholdsSection = ThresholdsSection()
    input: InputSection = InputSection()
    run: RunSection = RunSection()
    notify: NotifySection = NotifySection()
    retention: RetentionSection = RetentionSection()
    maps: MapsSection = MapsSection()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment wins over the file (passed in as init values).
        return _Environment(settings_cls, _ENV.get()), init_settings


_KAFKA, _TOPICS = KafkaSection(), TopicsSection()
_THRESHOLDS, _RUN = ThresholdsSection(), RunSection()


class StreamConfig(BaseModel):
    """Everything a stream consumer or producer needs, flat (see ``docs/deployment.md``);
    the defaults are the sections' own."""

    model_config = ConfigDict(validate_assignment=True)

    bootstrap_servers: str = _KAFKA.bootstrap_servers
    connect_timeout_s: float = _KAFKA.connect_timeout_s
    security_protocol: Protocol = _KAFKA.security_protocol
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_password_env: str | None = None
    ssl_password_file: str | None = None
    sasl_mechanism: Mechanism | None = None
    sasl_username: str | None = None
    sasl_password_env: str | None = None
    sasl_password_file: str | None = None
    #: Read from the variable or file named above when the configuration is loaded.
    ssl_password: SecretStr | None = None
    sasl_password: SecretStr | None = None
    group_id: str = _KAFKA.group_id
    client_id: str = _KAFKA.client_id
    max_poll_records: int = _KAFKA.max_poll_records
    poll_timeout_ms: int = _KAFKA.poll_timeout_ms
    max_poll_interval_ms: int = _KAFKA.max_poll_interval_ms
    session_timeout_ms: int = _KAFKA.session_timeout_ms
    heartbeat_interval_ms: int = _KAFKA.heartbeat_interval_ms
    fixes_topic: str = _TOPICS.fixes
    anpr_topic: str = _TOPICS.anpr
    candidates_topic: str = _TOPICS.candidates
    device_events_topic: str = _TOPICS.device_events
    deadletter_topic: str = _TOPICS.deadletter
    store: str = Field(default_factory=lambda: str(default_db_path()))
    default_accuracy_m: float = _THRESHOLDS.default_accuracy_m
    curfew_no_signal_minutes: float = _THRESHOLDS.curfew_no_signal_minutes
    no_contact_minutes: float = _THRESHOLDS.no_contact_minutes
    low_battery_pct: float = _THRESHOLDS.low_battery_pct
    curfew_good_accuracy_m: float = _THRESHOLDS.curfew_good_accuracy_m
    curfew_min_away_minutes: float = _THRESHOLDS.curfew_min_away_minutes
    spike_speed_kmh: float = _THRESHOLDS.spike_speed_kmh
    curfew_lateness_minutes: float = _THRESHOLDS.curfew_lateness_minutes
    absence_corridor_m: float = _THRESHOLDS.absence_corridor_m
    #: A fix or read dated more than this after it was received is refused (future_time).
    max_future_minutes: float = _THRESHOLDS.max_future_minutes
    keep_fields: list[str] = []
    log_every_s: float = _RUN.log_every_s
    #: Stop after this many seconds with nothing to consume (demos, tests); None: never.
    idle_exit_s: float | None = _RUN.idle_exit_s

    def engine_config(self) -> EngineConfig:
        return EngineConfig(
            default_accuracy_m=self.default_accuracy_m,
            curfew_no_signal_minutes=self.curfew_no_signal_minutes,
            curfew_good_accuracy_m=self.curfew_good_accuracy_m,
            curfew_min_away_minutes=self.curfew_min_away_minutes,
            spike_speed_kmh=self.spike_speed_kmh,
            curfew_lateness_minutes=self.curfew_lateness_minutes,
            absence_corridor_m=self.absence_corridor_m,
            device=DeviceConfig(
                no_contact_minutes=self.no_contact_minutes, low_battery_pct=self.low_battery_pct
            ),
            feed=FeedConfig(outages=False),  # judged over the whole feed only (see FeedConfig)
        )

    @classmethod
    def from_settings(cls, s: Settings, store: str | None) -> StreamConfig:
        topics = {f"{k}_topic": v for k, v in s.topics.model_dump().items()}
        k = s.kafka
        return cls(
            **s.kafka.model_dump(),
            **topics,
            store=store or s.store.path or str(default_db_path()),
            **s.thresholds.model_dump(),
            **s.input.model_dump(),
            **s.run.model_dump(),
            ssl_password=_secret_of(k.ssl_password_env, k.ssl_password_file, "ssl_password"),
            sasl_password=_secret_of(k.sasl_password_env, k.sasl_password_file, "sasl_password"),
        )


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc)


def _read_toml(path: str | Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        return tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: not valid TOML ({e})") from None


T = TypeVar("T")


def _loaded(
    path: str | Path | None,
    env: Mapping[str, str] | None,
    make: Callable[[Settings, Mapping[str, str]], T],
) -> T:
    """``make`` from the file's settings and the environment's; one line on a bad one."""
    env = os.environ if env is None else env
    doc = _read_toml(path)
    token = _ENV.set(env)
    try:
        return make(Settings(**doc), env)
    except ValidationError as e:
        first = e.errors()[0]
        where = _where(first["loc"])
        what = "unknown setting" if first["type"] == "extra_forbidden" else first["msg"]
        source = f"{path}: " if path is not None and where.split(".")[0] in doc else ""
        raise ConfigError(f"{source}setting {where}: {what}") from None
    finally:
        _ENV.reset(token)


def load_config(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> StreamConfig:
    """Configuration from a TOML file (optional) and environment variables (which win)."""
    return _loaded(path, env, lambda s, e: StreamConfig.from_settings(s, e.get(DB_ENV) or None))


class NotifyConfig(NotifySection):
    """The ``[notify]`` section with its password read (from the variable or file)."""

    password: SecretStr | None = None


def load_notify_config(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> NotifyConfig:
    """The ``[notify]`` section of a configuration file (optional) and the environment
    (``GEOMONITOR_NOTIFY_*``, which wins)."""

    def make(s: Settings, _: Mapping[str, str]) -> NotifyConfig:
        n = s.notify
        secret = _secret_of(n.password_env, n.password_file, "password", "notify")
        return NotifyConfig(**n.model_dump(), password=secret)

    return _loaded(path, env, make)


def load_retention_config(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> RetentionSection:
    """The ``[retention]`` section of a configuration file (optional) and the environment
    (``GEOMONITOR_RETENTION_*``, which wins)."""
    return _loaded(path, env, lambda s, _: s.retention)


def load_maps_config(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> MapsSection:
    """The ``[maps]`` section of a configuration file (optional) and the environment
    (``GEOMONITOR_MAPS_TILES``, ``GEOMONITOR_MAPS_ATTRIBUTION``, which win)."""
    return _loaded(path, env, lambda s, _: s.maps)


def _secret_of(
    env_name: str | None, file: str | None, what: str, section: str = "kafka"
) -> SecretStr | None:
    """A password from the environment variable or the file named (never the config)."""
    if env_name is not None:
        value = _ENV.get().get(env_name)
        if not value:
            raise ConfigError(f"{section}.{what}: environment variable {env_name} is not set")
        return SecretStr(value)
    if file is not None:
        try:
            return SecretStr(Path(file).read_text(encoding="utf-8").strip())
        except OSError as e:
            raise ConfigError(f"{section}.{what}: cannot read {file} ({e.strerror})") from None
    return None


def client_options(cfg: StreamConfig) -> dict[str, Any]:
    """What every Kafka client the project builds (consumers, producers, admin) is given:
    the brokers, how long to wait for them, and the TLS and SASL settings."""
    opts: dict[str, Any] = {
        "bootstrap_servers": cfg.bootstrap_servers,
        "bootstrap_timeout_ms": int(cfg.connect_timeout_s * 1000),
        "security_protocol": cfg.security_protocol,
    }
    secret = cfg.ssl_password or _secret_of(
        cfg.ssl_password_env, cfg.ssl_password_file, "ssl_password"
    )
    if cfg.security_protocol in ("SSL", "SASL_SSL"):
        for key in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            value = getattr(cfg, key)
            if value is not None:
                if not Path(value).is_file():
                    raise ConfigError(f"setting kafka.{key}: no file {value}")
                opts[key] = value
        if secret is not None:
            opts["ssl_password"] = secret.get_secret_value()
    if cfg.security_protocol.startswith("SASL"):
        if cfg.sasl_mechanism is None or cfg.sasl_username is None:
            raise ConfigError(
                f"setting kafka.security_protocol {cfg.security_protocol}: "
                "give kafka.sasl_mechanism and kafka.sasl_username"
            )
        password = cfg.sasl_password or _secret_of(
            cfg.sasl_password_env, cfg.sasl_password_file, "sasl_password"
        )
        if password is None:
            raise ConfigError(
                "kafka.sasl_password: give kafka.sasl_password_env or kafka.sasl_password_file"
            )
        opts.update(
            sasl_mechanism=cfg.sasl_mechanism,
            sasl_plain_username=cfg.sasl_username,
            sasl_plain_password=password.get_secret_value(),
        )
    return opts


@contextmanager
def broker_errors(cfg: StreamConfig) -> Iterator[None]:
    """Kafka's connection failures as one clear :class:`StreamError`."""
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    try:
        yield
    except (KafkaTimeoutError, KafkaConnectionError) as e:
        raise StreamError(
            f"no Kafka broker answered at {cfg.bootstrap_servers} within "
            f"{cfg.connect_timeout_s:g} s ({type(e).__name__})"
        ) from None
