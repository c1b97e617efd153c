"""Settings come from code, then the environment, then the nearest .yaviorc.json, then defaults;
a bad value or file never breaks the host and the API key never shows in a repr."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from yavio_sdk.config import DEFAULT_ENDPOINT, YavioConfig, resolve_config

KEY = "yav_live_9f8e7d6c5b4a3210"


def write_rc(directory: Path, contents: object) -> Path:
    path = directory / ".yaviorc.json"
    path.write_text(contents if isinstance(contents, str) else json.dumps(contents))
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty project folder with no rc file above it (tmp_path's parents hold none)."""
    assert not any((d / ".yaviorc.json").exists() for d in (tmp_path, *tmp_path.parents))
    return tmp_path


def test_with_nothing_configured_the_sdk_is_off_and_everything_else_is_default(
    project: Path,
) -> None:
    config = resolve_config(cwd=project, environ={})
    assert config == YavioConfig()
    assert config.enabled is False
    assert config.endpoint == DEFAULT_ENDPOINT == "http://127.0.0.1:3001"
    assert (config.capture_input_values, config.capture_output_values, config.capture_geo,
            config.capture_tokens, config.capture_retries) == (True, True, True, True, True)
    assert (config.server_only, config.intent, config.debug) == (False, False, False)
    assert (config.flush_interval, config.batch_size, config.queue_size) == (10.0, 100, 10_000)


# (code option, environment, rc file, expected): each source given or not, for one setting each.
PRECEDENCE = [
    ("api_key", "yav_code", "yav_env", "yav_rc", "yav_code"),
    ("api_key", None, "yav_env", "yav_rc", "yav_env"),
    ("api_key", None, None, "yav_rc", "yav_rc"),
    ("api_key", None, None, None, None),
    ("endpoint", "https://code.example", "https://env.example", "https://rc.example",
     "https://code.example"),
    ("endpoint", None, "https://env.example", "https://rc.example", "https://env.example"),
    ("endpoint", None, None, "https://rc.example", "https://rc.example"),
    ("server_only", False, "true", True, False),
    ("server_only", None, "no", True, False),
    ("server_only", None, None, True, True),
    ("capture_geo", True, "off", False, True),
    ("capture_geo", None, "off", True, False),
    ("capture_geo", None, None, False, False),
    ("flush_interval", 1.5, "2.5", 3.5, 1.5),
    ("flush_interval", None, "2.5", 3.5, 2.5),
    ("flush_interval", None, None, 3.5, 3.5),
]

ENV_NAMES = {"api_key": "YAVIO_API_KEY", "endpoint": "YAVIO_ENDPOINT",
             "server_only": "YAVIO_SERVER_ONLY", "capture_geo": "YAVIO_CAPTURE_GEO",
             "flush_interval": "YAVIO_FLUSH_INTERVAL"}
RC_PATHS = {"api_key": ("apiKey",), "endpoint": ("endpoint",), "server_only": ("serverOnly",),
            "capture_geo": ("capture", "geo"), "flush_interval": ("flushInterval",)}


@pytest.mark.parametrize(("setting", "code", "env", "rc", "expected"), PRECEDENCE)
def test_code_beats_environment_beats_rc_file_beats_default(
    project: Path, setting: str, code, env, rc, expected,
) -> None:
    if rc is not None:
        *parents, leaf = RC_PATHS[setting]
        contents: dict = {leaf: rc}
        for parent in reversed(parents):
            contents = {parent: contents}
        write_rc(project, contents)
    environ = {} if env is None else {ENV_NAMES[setting]: env}
    options = {} if code is None else {setting: code}
    config = resolve_config(cwd=project, environ=environ, **options)
    assert getattr(config, setting) == (expected if expected is not None
                                        else getattr(YavioConfig(), setting))


def test_each_setting_is_resolved_on_its_own(project: Path) -> None:
    write_rc(project, {"apiKey": "yav_rc", "endpoint": "https://rc.example",
                       "capture": {"geo": False}})
    config = resolve_config(cwd=project, environ={"YAVIO_ENDPOINT": "https://env.example"},
                            capture_tokens=False)
    assert (config.api_key, config.endpoint, config.capture_geo, config.capture_tokens) == (
        "yav_rc", "https://env.example", False, False)


@pytest.mark.parametrize("word", ["1", "true", "TRUE", "Yes", "on", " on "])
def test_true_words_turn_a_switch_on(project: Path, word: str) -> None:
    assert resolve_config(cwd=project, environ={"YAVIO_SERVER_ONLY": word}).server_only is True


@pytest.mark.parametrize("word", ["0", "false", "False", "NO", "off"])
def test_false_words_turn_a_switch_off(project: Path, word: str) -> None:
    assert resolve_config(cwd=project, environ={"YAVIO_CAPTURE_GEO": word}).capture_geo is False


@pytest.mark.parametrize("word", ["maybe", "2", "enabled", "y"])
def test_any_other_word_falls_through_to_the_rc_file_with_a_warning(
    project: Path, word: str, caplog: pytest.LogCaptureFixture,
) -> None:
    write_rc(project, {"serverOnly": True})
    with caplog.at_level(logging.WARNING, logger="yavio"):
        config = resolve_config(cwd=project, environ={"YAVIO_SERVER_ONLY": word})
    assert config.server_only is True
    assert [r.getMessage() for r in caplog.records] == [
        "yavio: ignoring YAVIO_SERVER_ONLY: expected 1/true/yes/on or 0/false/no/off"]


def test_an_unusable_value_in_every_source_falls_through_to_the_default(project: Path) -> None:
    write_rc(project, {"capture": {"geo": "sometimes"}})
    config = resolve_config(cwd=project, environ={"YAVIO_CAPTURE_GEO": "perhaps"},
                            capture_geo="dunno")
    assert config.capture_geo is True


def test_an_empty_environment_variable_counts_as_unset(project: Path) -> None:
    write_rc(project, {"apiKey": "yav_rc"})
    assert resolve_config(cwd=project, environ={"YAVIO_API_KEY": ""}).api_key == "yav_rc"


def test_the_nearest_rc_file_is_found_from_a_nested_folder(project: Path) -> None:
    write_rc(project, {"apiKey": "yav_outer", "endpoint": "https://outer.example"})
    service = project / "services" / "booking"
    nested = service / "src" / "tools"
    nested.mkdir(parents=True)
    rc = write_rc(service, {"apiKey": "yav_booking"})
    config = resolve_config(cwd=nested, environ={})
    assert config.api_key == "yav_booking"
    # Only the nearest file is read: its neighbours' settings do not leak in.
    assert config.endpoint == DEFAULT_ENDPOINT
    assert config.rc_file == str(rc)


def test_the_rc_file_accepts_camel_case_and_snake_case_keys(project: Path) -> None:
    write_rc(project, {"api_key": "yav_snake", "server_only": True, "batch_size": 50,
                       "capture": {"input_values": False, "outputValues": False}})
    config = resolve_config(cwd=project, environ={})
    assert (config.api_key, config.server_only, config.batch_size,
            config.capture_input_values, config.capture_output_values) == (
        "yav_snake", True, 50, False, False)


def test_the_typescript_sdks_rc_file_works_unchanged(project: Path) -> None:
    write_rc(project, {"apiKey": KEY, "endpoint": "https://ingest.yavio.ai/v1/events",
                       "capture": {"inputValues": False, "geo": True}})
    config = resolve_config(cwd=project, environ={})
    assert config.api_key == KEY and config.capture_input_values is False
    assert config.endpoint == "https://ingest.yavio.ai"
    assert config.events_url == "https://ingest.yavio.ai/v1/events"


@pytest.mark.parametrize("contents", ["{not json", "[1, 2, 3]", '"just a string"', "",
                                      '{"apiKey": "yav_x",}'])
def test_a_malformed_rc_file_is_ignored_with_one_warning(
    project: Path, contents: str, caplog: pytest.LogCaptureFixture,
) -> None:
    write_rc(project, contents)
    with caplog.at_level(logging.WARNING, logger="yavio"):
        config = resolve_config(cwd=project, environ={"YAVIO_API_KEY": KEY})
    assert config == YavioConfig(api_key=KEY)
    [record] = caplog.records
    assert ".yaviorc.json" in record.getMessage()


def test_an_rc_file_that_is_not_utf8_is_ignored_with_one_warning(
    project: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    (project / ".yaviorc.json").write_bytes(b"\xff\xfe\x00garbage")
    with caplog.at_level(logging.WARNING, logger="yavio"):
        assert resolve_config(cwd=project, environ={}) == YavioConfig()
    assert len(caplog.records) == 1


def test_an_rc_file_saved_with_a_byte_order_mark_is_read(project: Path) -> None:
    (project / ".yaviorc.json").write_bytes(b"\xef\xbb\xbf" + json.dumps({"apiKey": KEY}).encode())
    assert resolve_config(cwd=project, environ={}).api_key == KEY


def test_the_api_key_never_appears_in_the_repr(project: Path) -> None:
    config = resolve_config(cwd=project, environ={}, api_key=KEY)
    assert KEY not in repr(config) and KEY not in str(config)
    assert "api_key=<redacted>" in repr(config)
    assert "api_key=None" in repr(resolve_config(cwd=project, environ={}))


def test_warnings_about_settings_never_echo_their_values(
    project: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="yavio"):
        resolve_config(cwd=project, environ={"YAVIO_ENDPOINT": "ftp://user:s3cret@host"},
                       api_key=12345)
    assert len(caplog.records) == 2
    assert not any("s3cret" in r.getMessage() or "12345" in r.getMessage()
                   for r in caplog.records)


@pytest.mark.parametrize(("given", "endpoint"), [
    ("https://yavio.example.com/", "https://yavio.example.com"),
    ("https://yavio.example.com/v1/events", "https://yavio.example.com"),
    ("http://10.0.0.5:3001", "http://10.0.0.5:3001"),
    ("ftp://yavio.example.com", DEFAULT_ENDPOINT),
    ("yavio.example.com", DEFAULT_ENDPOINT),
])
def test_the_endpoint_is_a_base_http_url(project: Path, given: str, endpoint: str) -> None:
    config = resolve_config(cwd=project, environ={"YAVIO_ENDPOINT": given})
    assert config.endpoint == endpoint
    assert config.widget_tokens_url == endpoint + "/v1/widget-tokens"


@pytest.mark.parametrize(("env", "batch_size", "flush_interval"), [
    ({"YAVIO_BATCH_SIZE": "500", "YAVIO_FLUSH_INTERVAL": "0.5"}, 500, 0.5),
    ({"YAVIO_BATCH_SIZE": "1001", "YAVIO_FLUSH_INTERVAL": "0"}, 100, 10.0),
    ({"YAVIO_BATCH_SIZE": "0", "YAVIO_FLUSH_INTERVAL": "-1"}, 100, 10.0),
    ({"YAVIO_BATCH_SIZE": "ten", "YAVIO_FLUSH_INTERVAL": "nan"}, 100, 10.0),
    ({"YAVIO_BATCH_SIZE": "2.5", "YAVIO_FLUSH_INTERVAL": "inf"}, 100, 10.0),
])
def test_batch_size_and_flush_interval_outside_their_range_fall_through(
    project: Path, env: dict, batch_size: int, flush_interval: float,
) -> None:
    config = resolve_config(cwd=project, environ=env)
    assert (config.batch_size, config.flush_interval) == (batch_size, flush_interval)


def test_capture_switches_may_be_given_as_a_mapping_in_code(project: Path) -> None:
    config = resolve_config(cwd=project, environ={},
                            capture={"inputValues": False, "output_values": False, "geo": False})
    assert (config.capture_input_values, config.capture_output_values, config.capture_geo) == (
        False, False, False)
    # A flat option is more specific than the mapping.
    assert resolve_config(cwd=project, environ={}, capture={"geo": False},
                          capture_geo=True).capture_geo is True


def test_an_unknown_option_is_ignored_with_a_warning_not_an_exception(
    project: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="yavio"):
        config = resolve_config(cwd=project, environ={}, api_kee=KEY, capture=False)
    assert config.api_key is None
    messages = [r.getMessage() for r in caplog.records]
    assert any("api_kee" in m for m in messages) and any("capture" in m for m in messages)


def test_the_process_environment_and_directory_are_used_by_default(
    project: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_rc(project, {"endpoint": "https://rc.example"})
    monkeypatch.chdir(project)
    monkeypatch.setenv("YAVIO_API_KEY", KEY)
    config = resolve_config()
    assert (config.api_key, config.endpoint) == (KEY, "https://rc.example")


def test_the_intent_switch_and_its_required_flag_are_settings(project: Path) -> None:
    write_rc(project, {"intent": True, "intentRequired": False})
    config = resolve_config(cwd=project, environ={})
    assert (config.intent, config.intent_required) == (True, False)
    assert resolve_config(cwd=project, environ={"YAVIO_INTENT": "off"}).intent is False
