"""bin/offline-image reads docker-compose.yml as compose does, so its smoke test runs what compose runs.
The smoke test itself (podman, every role as a container) is `make image-smoke`, run by .ci/run."""

import importlib.util
from importlib.machinery import SourceFileLoader

import pytest
import yaml

from tests.factories import ROOT


def offline_image():
    loader = SourceFileLoader("offline_image", str(ROOT / "bin" / "offline-image"))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tool():
    return offline_image()


@pytest.fixture(scope="module")
def specs(tool):
    env_file = {
        **tool.env_file_read(ROOT / ".env.example"),
        **tool.env_file_read(ROOT / "kasparro.env.example"),
        "DATABASE_URL": "postgres://smoke@127.0.0.1:5432/smoke",
        "REDIS_URL": "redis://127.0.0.1:6379/15",
    }
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return {role: tool.service_spec(compose, role, env_file) for role in tool.ROLES}


NESTED = "${DATABASE_URL:-postgres://${POSTGRES_USER}:${POSTGRES_PASSWORD}@db:5432/${POSTGRES_DB}}"


@pytest.mark.parametrize(
    ("variables", "expected"),
    [
        ({"POSTGRES_USER": "u", "POSTGRES_PASSWORD": "p", "POSTGRES_DB": "d"}, "postgres://u:p@db:5432/d"),
        (
            {"DATABASE_URL": "", "POSTGRES_USER": "u", "POSTGRES_PASSWORD": "p", "POSTGRES_DB": "d"},
            "postgres://u:p@db:5432/d",
        ),
        ({"DATABASE_URL": "postgres://managed/x"}, "postgres://managed/x"),
    ],
)
def test_interpolation_takes_a_set_variable_else_the_nested_default(tool, variables, expected):
    assert tool.interpolate(NESTED, variables) == expected


def test_interpolation_keeps_a_doubled_dollar_for_the_container_and_refuses_an_unset_variable(tool):
    assert tool.interpolate("worker@$$HOSTNAME ${A-x} ${B}", {"B": ""}) == "worker@$HOSTNAME x "
    with pytest.raises(tool.SmokeError, match="MISSING"):
        tool.interpolate("${MISSING}", {})


def test_every_role_runs_composes_command_with_composes_environment_over_the_env_file(specs):
    assert {role: spec["command"] for role, spec in specs.items()} == {
        "migrate": ["migrate"],
        "first-run": ["etl", "--queue"],
        "web": ["web"],
        "worker": ["worker"],
        "beat": ["beat"],
    }
    for spec in specs.values():
        assert spec["image"] == "kasparro:latest"
        assert spec["environment"]["DATABASE_URL"] == "postgres://smoke@127.0.0.1:5432/smoke"
        assert spec["environment"]["ALLOWED_HOSTS"].startswith("kasparro.example.com")


def test_health_checks_are_composes_and_the_images(specs):
    worker = specs["worker"]["health"]
    command = worker[worker.index("--health-cmd") + 1]
    assert "celery -A kasparro inspect ping --destination worker@$HOSTNAME" in command
    assert specs["worker"]["grace"] == 120
    assert all("--no-healthcheck" in specs[role]["health"] for role in ("migrate", "first-run", "beat"))
    # web has no compose healthcheck: the image's HEALTHCHECK applies, run by the smoke test itself.
    assert specs["web"]["health"] == ["--health-interval", "disable"]
