"""The export queues' settings (platform_core/export_settings.py) read each family's own
variables and only those, and the error kinds declared one to a line
(platform_core/errors.py `error_class`, `DetailedError`)."""

from __future__ import annotations

import grpc
import pytest

from platform_core.config import ConfigError
from platform_core.errors import DetailedError, error_class
from services.exports import config as exports_config
from services.voucher import config as voucher_config


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    for name in ("PUBLIC_BASE_URL", "GATEWAY_HOST", "GATEWAY_PORT", "VOUCHER_EXPORT_DIR", "EXPORTS_DIR"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_each_family_reads_its_own_variables(env, tmp_path):
    env.setenv("VOUCHER_EXPORT_LEASE_SECONDS", "7.5")
    env.setenv("VOUCHER_EXPORT_PAUSE_SECONDS", "0.25")
    env.setenv("EXPORTS_LEASE_SECONDS", "9")
    env.setenv("EXPORTS_MAX_RECORDS", "1234")
    env.setenv("EXPORTS_DIR", str(tmp_path / "elsewhere"))
    voucher, service = voucher_config.load(), exports_config.load()
    assert (voucher.lease_seconds, voucher.pause_seconds, voucher.export_dir) == (7.5, 0.25, tmp_path / "exports")
    assert (service.lease_seconds, service.max_records, service.export_dir) == (9.0, 1234, tmp_path / "elsewhere")
    assert (voucher.statement_timeout_ms, service.statement_timeout_ms) == (60_000, 300_000)


def test_the_voucher_documents_lifetime_and_the_services_missing_pause_are_not_settings(env):
    env.setenv("VOUCHER_EXPORT_LIFETIME_HOURS", "1")
    env.setenv("VOUCHER_EXPORT_MAX_RECORDS", "5")
    env.setenv("EXPORTS_PAUSE_SECONDS", "3")
    voucher, service = voucher_config.load(), exports_config.load()
    assert (voucher.lifetime_hours, voucher.max_records, service.pause_seconds) == (24.0, 10_000_000, 0.0)


def test_a_malformed_number_stops_the_process_naming_the_variable(env):
    env.setenv("EXPORTS_BATCH_ROWS", "many")
    with pytest.raises(ConfigError, match="EXPORTS_BATCH_ROWS"):
        exports_config.load()


def test_the_public_base_url_comes_from_the_gateway_address_without_a_trailing_slash(env):
    env.setenv("GATEWAY_HOST", "gw.test")
    env.setenv("GATEWAY_PORT", "9443")
    assert voucher_config.load().public_base_url == "http://gw.test:9443"
    env.setenv("PUBLIC_BASE_URL", "https://api.example.com/")
    assert exports_config.load().public_base_url == "https://api.example.com"


def test_a_declared_error_kind_has_its_status_and_belongs_to_the_declaring_module():
    kind = error_class("Teapot", DetailedError, grpc.StatusCode.FAILED_PRECONDITION, 418, "TEAPOT")
    error = kind(message="short and stout", info={"cups": 2, "tea": "earl grey", "ids": ["a", "b"]})
    assert (kind.__name__, kind.__module__, kind.http_status, kind.reason) == ("Teapot", __name__, 418, "TEAPOT")
    assert isinstance(error, DetailedError) and error.grpc_code is grpc.StatusCode.FAILED_PRECONDITION
    assert error.metadata() == {"cups": "2", "tea": "earl grey", "ids": '["a","b"]'}

