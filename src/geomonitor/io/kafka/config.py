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
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from ...model.errors import ConfigError
from ...rules.config import DeviceConfig, EngineConfig
from ...store.domain import DB_ENV, default_db_path

#: The variables the settings being built read (set by :func:`load_config`).
_ENV: ContextVar[Mapping[str, str]] = ContextVar("geomonitor_env", default=os.environ)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class KafkaSection(_Section):
    bootstrap_servers: str = "localhost:9092"
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
    max_future_minutes: float = 10.0


class RunSection(_Section):
    log_every_s: float = 30.0
    idle_exit_s: float | None = None


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
    run: RunSection = RunSection()

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
    #: A fix or read dated more than this after it was received is refused (future_time).
    max_future_minutes: float = _THRESHOLDS.max_future_minutes
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
            device=DeviceConfig(
                no_contact_minutes=self.no_contact_minutes, low_battery_pct=self.low_battery_pct
            ),
        )

    @classmethod
    def from_settings(cls, s: Settings, store: str | None) -> StreamConfig:
        topics = {f"{k}_topic": v for k, v in s.topics.model_dump().items()}
        return cls(
            **s.kafka.model_dump(),
            **topics,
            store=store or s.store.path or str(default_db_path()),
            **s.thresholds.model_dump(),
            **s.run.model_dump(),
        )


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc)


def load_config(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> StreamConfig:
    """Configuration from a TOML file (optional) and environment variables (which win)."""
    env = os.environ if env is None else env
    doc: dict[str, Any] = {}
    if path is not None:
        try:
            doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as e:
            raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(f"{path}: not valid TOML ({e})") from None
    token = _ENV.set(env)
    try:
        settings = Settings(**doc)
    except ValidationError as e:
        first = e.errors()[0]
        where = _where(first["loc"])
        what = "unknown setting" if first["type"] == "extra_forbidden" else first["msg"]
        source = f"{path}: " if path is not None and where.split(".")[0] in doc else ""
        raise ConfigError(f"{source}setting {where}: {what}") from None
    finally:
        _ENV.reset(token)
    return StreamConfig.from_settings(settings, env.get(DB_ENV) or None)
