"""Kafka TLS and SASL settings reach every client the project builds; passwords come only
from the environment or files; a missing broker is one clear line within the timeout."""

from __future__ import annotations

import socket
import time

import kafka
import kafka.admin
import pytest

from geomonitor.app.cli import main
from geomonitor.io.kafka import (
    ColocationFollower,
    ConfigError,
    FixesConsumer,
    StreamConfig,
    ensure_topics,
    load_config,
    produce,
)
from geomonitor.io.kafka.config import client_options
from geomonitor.model.errors import StreamError
from geomonitor.store.domain import Store

from ..conftest import make_registry


@pytest.fixture
def tls_files(tmp_path):
    for name in ("ca.pem", "client.pem", "client.key"):
        (tmp_path / name).write_text("-----BEGIN TEST-----\n")
    (tmp_path / "sasl.pw").write_text("s3cret-from-file\n")
    return tmp_path


def secure_config(tls_files, tmp_path) -> StreamConfig:
    toml = tmp_path / "g.toml"
    toml.write_text(
        "[kafka]\n"
        'bootstrap_servers = "k1:9093"\n'
        'security_protocol = "SASL_SSL"\n'
        f'ssl_cafile = "{tls_files / "ca.pem"}"\n'
        f'ssl_certfile = "{tls_files / "client.pem"}"\n'
        f'ssl_keyfile = "{tls_files / "client.key"}"\n'
        'ssl_password_env = "GM_KEY_PASSWORD"\n'
        'sasl_mechanism = "SCRAM-SHA-512"\n'
        'sasl_username = "geomonitor"\n'
        f'sasl_password_file = "{tls_files / "sasl.pw"}"\n'
        f'[store]\npath = "{tmp_path / "g.db"}"\n'
    )
    return load_config(toml, env={"GM_KEY_PASSWORD": "key-pw"})


WANT = {
    "bootstrap_servers": "k1:9093",
    "security_protocol": "SASL_SSL",
    "sasl_mechanism": "SCRAM-SHA-512",
    "sasl_plain_username": "geomonitor",
    "sasl_plain_password": "s3cret-from-file",
    "ssl_password": "key-pw",
}


def test_the_options_carry_tls_and_sasl_with_passwords_from_env_and_files(tls_files, tmp_path):
    cfg = secure_config(tls_files, tmp_path)
    opts = client_options(cfg)
    assert {k: opts[k] for k in WANT} == WANT
    assert opts["ssl_cafile"].endswith("ca.pem") and opts["ssl_keyfile"].endswith("client.key")
    assert opts["bootstrap_timeout_ms"] == 10_000


def test_a_password_in_the_configuration_itself_is_refused(tmp_path):
    toml = tmp_path / "g.toml"
    toml.write_text('[kafka]\nsecurity_protocol = "SASL_SSL"\nsasl_password = "plain"\n')
    with pytest.raises(ConfigError, match=r"kafka\.sasl_password: unknown setting"):
        load_config(toml, env={})


def test_sasl_without_a_password_source_or_with_an_unset_variable_is_refused(tmp_path):
    cfg = StreamConfig(security_protocol="SASL_PLAINTEXT", sasl_mechanism="PLAIN",
                       sasl_username="u")  # fmt: skip
    with pytest.raises(ConfigError, match=r"sasl_password_env or kafka\.sasl_password_file"):
        client_options(cfg)
    cfg = cfg.model_copy(update={"sasl_password_env": "NOT_SET_ANYWHERE"})
    with pytest.raises(ConfigError, match="NOT_SET_ANYWHERE is not set"):
        client_options(cfg)


class Built(Exception):
    """Raised by a fake Kafka client once it has been built (its options recorded)."""


def test_every_client_gets_the_settings(tls_files, tmp_path, monkeypatch):
    cfg = secure_config(tls_files, tmp_path)
    seen: list[tuple[str, dict]] = []

    class FakeProducer:
        def __init__(self, **kw):
            seen.append(("producer", kw))

        def flush(self):
            pass

        def close(self):
            pass

    def fake(name):
        def build(*args, **kw):
            seen.append((name, kw))
            raise Built

        return build

    monkeypatch.setattr(kafka, "KafkaProducer", FakeProducer)
    monkeypatch.setattr(kafka, "KafkaConsumer", fake("consumer"))
    monkeypatch.setattr(kafka.admin, "KafkaAdminClient", fake("admin"))
    with Store(cfg.store) as st:
        st.load_registry(make_registry())
        with pytest.raises(Built):
            FixesConsumer(cfg, st).run()  # the output producer, then the group consumer
        with pytest.raises(Built):
            list(
                ColocationFollower(cfg, st)._scan("geomonitor.candidates", "g/c/0")
            )  # recovery reader
    with pytest.raises(Built):
        ensure_topics(cfg, 4)
    monkeypatch.setattr(kafka, "KafkaProducer", fake("producer"))
    with pytest.raises(Built):
        produce(cfg)
    assert [n for n, _ in seen] == ["producer", "consumer", "consumer", "admin", "producer"]
    for name, kw in seen:
        assert {k: kw[k] for k in WANT} == WANT, name
        assert kw["ssl_certfile"].endswith("client.pem"), name


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_no_broker_is_one_clear_line_within_the_timeout(tmp_path, capsys):
    cfg = StreamConfig(bootstrap_servers=f"127.0.0.1:{closed_port()}", connect_timeout_s=2.0,
                       store=str(tmp_path / "g.db"))  # fmt: skip
    t = time.monotonic()
    gone = r"no Kafka broker answered at 127\.0\.0\.1:\d+ within 2 s"
    with pytest.raises(StreamError, match=gone):
        ensure_topics(cfg, 1)
    assert time.monotonic() - t < 10
    with Store(cfg.store) as st:
        st.load_registry(make_registry())
    (tmp_path / "g.toml").write_text(
        f'[kafka]\nbootstrap_servers = "{cfg.bootstrap_servers}"\nconnect_timeout_s = 2.0\n'
    )
    code = main(["consume", "fixes", "--config", str(tmp_path / "g.toml"),
                 "--db", cfg.store, "--idle-exit", "1"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 3 and "no Kafka broker answered" in err and "Traceback" not in err
