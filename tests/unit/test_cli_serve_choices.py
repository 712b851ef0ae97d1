"""`simsearch serve` settings with a fixed set of values: --help lists them, a wrong value (flag
or environment twin) is a usage error naming them, and the server-side check uses the same
list (``Setting.choices``)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from simsearch.cli import main
from simsearch.cli.root import simsearch
from simsearch.cli.serve import server_config
from simsearch.config import SETTINGS, config_from_values

CHOICES = {setting.name: setting for setting in SETTINGS if setting.choices}
UNSET: dict[str, str | None] = {setting.env: None for setting in SETTINGS}


def test_the_fixed_choice_settings_are_declared() -> None:
    assert set(CHOICES) == {"dtype", "engine", "log_level", "reflection", "encoder", "store"}
    assert CHOICES["dtype"].choices == ("auto", "float32", "bfloat16")


def test_help_lists_the_choices() -> None:
    result = CliRunner().invoke(simsearch, ["serve", "--help"], terminal_width=200, env=UNSET)
    assert result.exit_code == 0
    for setting in CHOICES.values():
        assert f"{setting.flag} [{'|'.join(setting.choices)}]" in result.output


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--dtype", "float16"], {}, "dtype must be auto, float32 or bfloat16, got 'float16'"),
        (["--engine", "onnx"], {}, "engine must be auto, torch or openvino, got 'onnx'"),
        ([], {"SIMSEARCH_STORE": "qdrant"}, "store must be faiss or milvus, got 'qdrant'"),
        (["--log-level", "loud"], {}, "log_level must be DEBUG, INFO, WARNING or ERROR"),
    ],
)
def test_a_wrong_value_is_a_usage_error_naming_the_choices(
    args: list[str], env: dict[str, str], message: str
) -> None:
    result = CliRunner().invoke(simsearch, ["serve", *args], env={**UNSET, **env})
    assert result.exit_code == 2
    assert "Invalid value for '--" in result.output
    assert message in result.output


def test_main_exits_2_before_loading_anything(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--reflection", "maybe"]) == 2
    assert "reflection must be on, public or off, got 'maybe'" in capsys.readouterr().err


def test_any_case_gives_the_listed_choice() -> None:
    with CliRunner().isolation(env=UNSET):
        config = server_config(["--log-level", "debug", "--engine", "TORCH"], {})
    assert (config.log_level, config.engine) == ("DEBUG", "torch")


def test_the_server_side_check_uses_the_same_choices() -> None:
    with pytest.raises(ValueError, match="encoder must be local or ray, got 'remote'"):
        config_from_values({"encoder": "remote"}, {})
    assert config_from_values({"dtype": "BFloat16"}, {}).dtype == "bfloat16"
