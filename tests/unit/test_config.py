"""Server settings as ``simsearch serve`` parses them: flag beats environment beats default;
bare boolean flags; limits; parse and range errors.

Every test runs with only its own ``SIMSEARCH_*`` variables set (click's isolation).
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from simsearch.cli.serve import server_config
from simsearch.config import SETTINGS, ServerConfig
from simsearch.encoder.loading import _load_failure, resolve_model
from simsearch.types import Limits


def build(flags: list[str], environ: dict[str, str] | None = None) -> ServerConfig:
    unset: dict[str, str | None] = {setting.env: None for setting in SETTINGS}
    with CliRunner().isolation(env={**unset, **(environ or {})}):
        return server_config(flags, environ or {})


def test_defaults() -> None:
    config = build([])
    assert config == ServerConfig()
    assert config.limits == Limits()
    assert (config.port, config.model, config.allow_download) == (50051, "default", False)


def test_flag_beats_environment_beats_default() -> None:
    environ = {"SIMSEARCH_PORT": "7000", "SIMSEARCH_HOST": "0.0.0.0"}
    assert build([], environ).port == 7000
    config = build(["--port", "8000"], environ)
    assert config.port == 8000
    assert config.host == "0.0.0.0"
    assert build(["--port", "8000"]).host == ServerConfig().host


def test_flag_zero_is_not_mistaken_for_unset() -> None:
    assert build(["--port", "0"], {"SIMSEARCH_PORT": "7000"}).port == 0


def test_limits_from_environment_and_flags() -> None:
    config = build(["--max-batch", "16"], {"SIMSEARCH_MAX_K": "5", "SIMSEARCH_MAX_BATCH": "99"})
    assert config.limits == Limits(max_batch=16, max_k=5)


def test_typed_values() -> None:
    environ = {
        "SIMSEARCH_DATA_DIR": "/srv/simsearch",
        "SIMSEARCH_ALLOW_DOWNLOAD": "yes",
        "SIMSEARCH_MAX_LENGTH": "128",
    }
    config = build(["--device", "cuda:1"], environ)
    assert config.data_dir == Path("/srv/simsearch")
    assert config.allow_download is True
    assert config.max_length == 128
    assert config.device == "cuda:1"
    assert build(["--no-allow-download"], environ).allow_download is False


def test_boolean_flags_are_bare_with_a_no_form() -> None:
    assert build(["--int8", "--allow-download"]).int8 is True
    assert build(["--allow-download"]).allow_download is True
    assert build(["--no-int8"], {"SIMSEARCH_INT8": "true"}).int8 is False
    assert build([], {"SIMSEARCH_INT8": "1"}).int8 is True
    with pytest.raises(click.UsageError, match="does not take a value"):
        build(["--int8=true"])


def test_the_flags_the_model_loading_error_names_work_bare() -> None:
    """The error says "pass --allow-download": that exact flag must parse as written."""
    message = _load_failure(resolve_model("org/no-such-model"), False, OSError("not cached"))
    flags = re.findall(r"--[a-z][a-z-]*", message)
    assert "--allow-download" in flags
    for flag in flags:
        assert build([flag]).allow_download is True
    for name, value in re.findall(r"(SIMSEARCH_[A-Z_]+)=(\w+)", message):
        assert build([], {name: value}).allow_download is True


def test_every_setting_has_a_flag_and_an_env_twin() -> None:
    names = {setting.name for setting in SETTINGS}
    assert len(names) == len(SETTINGS)
    for setting in SETTINGS:
        assert setting.flag == "--" + setting.name.replace("_", "-")
        assert setting.env == "SIMSEARCH_" + setting.name.upper()


@pytest.mark.parametrize(
    ("env", "raw"),
    [
        ("SIMSEARCH_PORT", "http"),
        ("SIMSEARCH_MAX_K", "5.5"),
        ("SIMSEARCH_ALLOW_DOWNLOAD", "maybe"),
    ],
)
def test_bad_environment_values_name_the_variable(env: str, raw: str) -> None:
    with pytest.raises(click.BadParameter) as raised:
        build([], {env: raw})
    assert env in raised.value.format_message()


def test_an_empty_environment_variable_is_unset() -> None:
    assert build([], {"SIMSEARCH_WORKERS": ""}).workers == ServerConfig().workers


def test_a_flag_hides_a_bad_environment_value() -> None:
    assert build(["--port", "1"], {"SIMSEARCH_PORT": "http"}).port == 1


def test_bad_flag_values_are_usage_errors() -> None:
    with pytest.raises(click.BadParameter, match="many"):
        build(["--max-k", "many"])


@pytest.mark.parametrize(
    ("flags", "environ", "match"),
    [
        (["--port", "65536"], {}, "port"),
        (["--port", "-1"], {}, "port"),
        ([], {"SIMSEARCH_PORT": "70000"}, "port"),
        (["--max-k", "0"], {}, "max_k"),
        ([], {"SIMSEARCH_MAX_BATCH": "-4"}, "max_batch"),
        (["--max-text-chars", "0"], {}, "max_text_chars"),
        (["--max-message-bytes", "0"], {}, "max_message_bytes"),
        (["--batch-size", "0"], {}, "batch_size"),
        (["--workers", "0"], {}, "workers"),
        (["--checkpoint-every", "0"], {}, "checkpoint_every"),
        (["--max-length", "-1"], {}, "max_length"),
    ],
)
def test_out_of_range_values_are_refused(
    flags: list[str], environ: dict[str, str], match: str
) -> None:
    with pytest.raises(click.UsageError, match=match):
        build(flags, environ)


def test_edges_of_the_ranges_are_accepted() -> None:
    config = build(["--port", "65535", "--max-k", "1", "--max-length", "0"])
    assert (config.port, config.limits.max_k, config.max_length) == (65535, 1, 0)


def test_engine_must_be_one_the_encoder_knows() -> None:
    assert build(["--engine", "openvino"]).engine == "openvino"
    assert build([], {"SIMSEARCH_ENGINE": "torch"}).engine == "torch"
    with pytest.raises(click.UsageError, match="engine must be auto, torch or openvino"):
        build(["--engine", "onnx"])


def test_converted_models_live_in_the_data_dir_unless_moved() -> None:
    from simsearch.server.app import model_cache_dir

    assert model_cache_dir(build(["--data-dir", "/srv/d"])) == Path("/srv/d/.models")
    moved = build(["--data-dir", "/srv/d"], {"SIMSEARCH_MODEL_CACHE_DIR": "/cache"})
    assert model_cache_dir(moved) == Path("/cache")


def test_scale_out_settings_have_flags_and_environment_twins() -> None:
    config = build(
        ["--encoder", "ray", "--replicas", "3", "--store", "milvus"],
        {
            "SIMSEARCH_RAY_ADDRESS": "ray://head:10001",
            "SIMSEARCH_MILVUS_URI": "http://milvus:19530",
            "SIMSEARCH_MILVUS_TOKEN": "root:Milvus",
        },
    )
    assert (config.encoder, config.replicas, config.ray_address) == ("ray", 3, "ray://head:10001")
    assert (config.store, config.milvus_uri) == ("milvus", "http://milvus:19530")
    assert config.milvus_token == "root:Milvus"
    assert "Milvus" not in repr(config)  # the token never reaches a log line


def test_the_milvus_token_has_no_flag() -> None:
    with pytest.raises(click.NoSuchOption, match="--milvus-token"):
        build(["--store", "milvus", "--milvus-uri", "m.db", "--milvus-token", "root:Milvus"])


@pytest.mark.parametrize(
    ("flags", "match"),
    [
        (["--encoder", "remote"], "encoder must be local or ray"),
        (["--encoder", "ray", "--replicas", "0"], "replicas must be >= 1"),
        (["--replicas", "2"], "need encoder=ray"),
        (["--ray-address", "auto"], "need encoder=ray"),
        (["--store", "qdrant"], "store must be faiss or milvus"),
        (["--store", "milvus"], "needs milvus_uri"),
        (["--milvus-uri", "m.db"], "need store=milvus"),
    ],
)
def test_scale_out_settings_that_cannot_work_are_refused(flags: list[str], match: str) -> None:
    with pytest.raises(click.UsageError, match=match):
        build(flags)
