"""deploy/: the compose file a team copies is checked here, since it cannot run here (no docker).

The front-ends' flags are parsed by ``simsearch serve``'s own parser, so a renamed or mistyped
flag fails this test, not a team's first deployment.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from simsearch.cli.serve import server_config
from simsearch.config import SETTINGS, ServerConfig

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    found: dict[str, Any] = compose["services"]
    return found


def front_ends(services: dict[str, Any]) -> dict[str, Any]:
    return {
        name: s for name, s in services.items() if s.get("entrypoint") == ["simsearch-front-end"]
    }


def front_end_config(service: dict[str, Any]) -> ServerConfig:
    """What ``simsearch serve`` gets in the container: the script's flags, then the command's."""
    script = (DEPLOY / "front-end.sh").read_text()
    exec_line = next(
        line for line in script.splitlines() if line.startswith("exec simsearch serve")
    )
    flags = shlex.split(exec_line)[3:-1] + shlex.split(service["command"])  # drop "$@"
    environ = {k: str(v) for k, v in service.get("environment", {}).items()}
    environ["SIMSEARCH_MILVUS_TOKEN"] = "root:Milvus"  # as a team sets it
    unset: dict[str, str | None] = {setting.env: None for setting in SETTINGS}
    with CliRunner().isolation(env={**unset, **environ}):  # the flags' twins come from there
        return server_config(flags, environ)


def test_the_deployment_has_every_tier(services: dict[str, Any]) -> None:
    assert {"milvus", "etcd", "minio", "ray-head", "ray-worker"} <= set(services)
    assert len(front_ends(services)) >= 2


def test_every_image_is_pinned(services: dict[str, Any]) -> None:
    for name, service in services.items():
        image = service["image"]
        tag = image.rsplit(":", 1)[1] if ":" in image else ""
        assert tag and tag != "latest", f"{name}: {image} is not pinned"


def test_front_ends_share_one_milvus_and_one_ray_cluster(services: dict[str, Any]) -> None:
    configs = {name: front_end_config(s) for name, s in front_ends(services).items()}
    for name, config in configs.items():
        assert (config.encoder, config.store, config.ray_address) == ("ray", "milvus", "auto"), name
        assert config.milvus_uri == "http://milvus:19530", name
        assert config.host == "0.0.0.0" and config.replicas >= 1, name
        assert config.api_keys_file is not None, f"{name} serves without API keys"
    assert len({c.replicas for c in configs.values()}) == 1  # one deployment, one size
    heads = {s["environment"]["RAY_HEAD"] for s in front_ends(services).values()}
    assert heads == {"ray-head:6379"}
    assert "--port 6379" in services["ray-head"]["command"]


def test_secrets_never_sit_on_a_command_line(services: dict[str, Any]) -> None:
    text = (DEPLOY / "docker-compose.yml").read_text()
    assert "--milvus-token" not in text and "--api-keys " not in text
    for service in front_ends(services).values():
        assert service["environment"]["SIMSEARCH_MILVUS_TOKEN"].startswith("${")


def test_front_ends_publish_distinct_ports(services: dict[str, Any]) -> None:
    published = [p.split(":")[0] for s in front_ends(services).values() for p in s["ports"]]
    assert len(published) == len(set(published))


def test_the_image_installs_the_pinned_extras_as_a_user() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    assert "torch==2.13.0" in dockerfile  # exactly: a loose torch pulls a CUDA build
    assert "'.[server,ray,milvus]'" in dockerfile
    assert "\nUSER simsearch" in dockerfile


def test_the_front_end_script_is_valid_shell() -> None:
    script = DEPLOY / "front-end.sh"
    assert os.access(script, os.X_OK)
    subprocess.run(["sh", "-n", str(script)], check=True)
