"""``simsearch serve``: one option per setting of ``simsearch.config.SETTINGS``, each with its
``SIMSEARCH_*`` environment twin (a flag beats its twin, the twin beats the default). Boolean
settings are bare flags with a ``--no-`` form (``--int8``, ``--no-int8``); settings with fixed
values (``Setting.choices``) list them in --help (``--engine [auto|torch|openvino]``) and refuse
others as a usage error naming them.

Only click and the settings are imported here: the server half (torch, faiss, grpc's server)
is imported when the command runs, so the client commands start fast without it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from simsearch.config import SETTINGS, ServerConfig, Setting, config_from_values, setting_defaults

__all__ = ["serve", "server_config"]

F = TypeVar("F", bound=Callable[..., Any])

_TYPES: dict[type, click.ParamType[Any]] = {
    str: click.STRING,
    int: click.INT,
    float: click.FLOAT,
    Path: click.Path(path_type=Path),
}


class _SettingChoice(click.Choice[str]):
    """click's Choice (``[auto|torch|openvino]`` in --help, shell completion) with the
    setting's own rule, ``Setting.choose``, which ``config_from_values`` applies too."""

    def __init__(self, setting: Setting) -> None:
        super().__init__(setting.choices)  # listed as declared; convert takes any case
        self.setting = setting

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return self.setting.choose(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def _type(setting: Setting) -> click.ParamType[Any] | None:
    if setting.type is bool:
        return None  # a bare flag
    return _SettingChoice(setting) if setting.choices else _TYPES[setting.type]


def _option(setting: Setting, default: Any) -> Callable[[F], F]:
    flags = setting.flag
    if setting.type is bool:
        flags = f"{setting.flag}/--no-{setting.flag.removeprefix('--')}"
    return click.option(
        flags,
        setting.name,
        type=_type(setting),
        default=default,
        show_default=default is not None and default != "",
        envvar=setting.env,
        show_envvar=True,
        help=setting.help,
    )


def settings_options(function: F) -> F:
    """An option for each setting that may be a flag (secrets are environment only)."""
    defaults = setting_defaults()
    for setting in reversed(SETTINGS):
        if not setting.secret:
            function = _option(setting, defaults[setting.name])(function)
    return function


def _config(values: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> ServerConfig:
    try:
        return config_from_values(values, environ)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None


@click.command(
    help="Run the simsearch gRPC server. Every option has an environment twin (shown in "
    "brackets); the API keys (SIMSEARCH_API_KEYS) and the Milvus token "
    "(SIMSEARCH_MILVUS_TOKEN) are environment only, never flags.",
    short_help="run the server (see simsearch serve --help)",
    context_settings={"max_content_width": 100},
)
@settings_options
def serve(**values: Any) -> int:
    config = _config(values)
    from simsearch.cli.serving import run  # the server half: torch, faiss, grpc's server

    return run(config)


def server_config(args: Sequence[str], environ: Mapping[str, str] | None = None) -> ServerConfig:
    """The config ``simsearch serve ARGS`` would run with, without running it (the flags'
    environment twins are read from ``os.environ``; ``environ`` holds the secrets)."""
    with serve.make_context("simsearch serve", list(args)) as context:
        return _config(context.params, environ)
