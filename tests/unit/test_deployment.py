"""The container stack, checked without Docker: the compose file against the Compose
specification, its commands against bin/entrypoint's roles, .env.example and
kasparro.env.example against the settings, and the Dockerfile's promises."""

import re
import textwrap

import yaml
from jsonschema import Draft7Validator

from tests.deployment import ENTRYPOINT, health_probe, instruction_args
from tests.factories import FIXTURES, ROOT

# The copy in shared/ beside the repo is the reference; the vendored one (compose-spec/compose-spec,
# schema/compose-spec.json, Apache-2.0) keeps this test running where shared/ is absent.
SHARED_SPEC = ROOT.parent / "shared" / "reference" / "compose-spec.json"


VENDORED_SPEC = FIXTURES / "compose-spec.json"


APP_IMAGE = "${KASPARRO_IMAGE:-kasparro:latest}"


APP_SERVICES = {"migrate", "first-run", "web", "worker", "beat"}


def compose_spec() -> Draft7Validator:
    path = SHARED_SPEC if SHARED_SPEC.exists() else VENDORED_SPEC
    return Draft7Validator(yaml.safe_load(path.read_text()))


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def app_services() -> dict:
    return {name: svc for name, svc in compose()["services"].items() if svc.get("image") == APP_IMAGE}


def command_words(service: dict) -> list[str]:
    command = service["command"]
    return command.split() if isinstance(command, str) else command


def entrypoint_roles() -> set[str]:
    body = ENTRYPOINT.read_text().split('case "$role" in', 1)[1].split("esac", 1)[0]
    labels = re.findall(r"^\s*([^\s()]+)\)\s*$", body, re.MULTILINE)
    return {role for label in labels for role in label.split("|")} - {"*"}


class _Reset:
    """Compose's `!reset` tag: the merge drops what it marks."""


class _OverrideLoader(yaml.SafeLoader):
    pass


_OverrideLoader.add_constructor("!reset", lambda loader, node: _Reset)


def compose_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if value is _Reset:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = compose_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def test_compose_file_follows_the_compose_specification():
    spec, model = compose_spec(), compose()
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in spec.iter_errors(model)]
    assert not errors
    assert "version" not in model


def test_managed_services_override_in_the_docs_leaves_a_consistent_stack():
    guide = (ROOT / "docs" / "deployment.md").read_text()
    (override,) = [block for block in re.findall(r"```yaml\n(.*?)```", guide, re.DOTALL) if "!reset" in block]
    model = compose_merge(compose(), yaml.load(textwrap.dedent(override), Loader=_OverrideLoader))  # noqa: S506 - a SafeLoader

    assert not list(compose_spec().iter_errors(model))
    assert set(model["services"]) == APP_SERVICES
    for name, service in model["services"].items():
        assert set(service.get("depends_on", {})) <= set(model["services"]), name
    assert not set(model.get("volumes") or {})


def test_app_services_run_one_image_built_once_configured_from_env():
    services = app_services()
    assert set(services) == APP_SERVICES
    assert [name for name, svc in compose()["services"].items() if "build" in svc] == ["migrate"]
    assert services["migrate"]["build"] == "."
    for name, service in services.items():
        assert service["env_file"] == "kasparro.env", name
        assert re.fullmatch(r"\$\{DATABASE_URL:-postgres://.+@db:5432/.+\}", service["environment"]["DATABASE_URL"])
        assert service["environment"]["REDIS_URL"] == "${REDIS_URL:-redis://redis:6379/0}"


def test_every_app_command_is_a_role_the_entrypoint_handles():
    roles = entrypoint_roles()
    assert roles == {"migrate", "web", "worker", "beat", "etl"}
    for name, service in app_services().items():
        assert command_words(service)[0] in roles, name
    assert command_words(app_services()["first-run"]) == ["etl", "--queue"]


def test_services_start_in_order_and_report_health():
    services = compose()["services"]
    assert services["db"]["image"] == "postgres:15"
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    assert services["redis"]["image"] == "redis:7"
    assert "redis-cli ping" in " ".join(services["redis"]["healthcheck"]["test"])

    assert services["migrate"]["depends_on"] == {"db": {"condition": "service_healthy"}}
    for name in APP_SERVICES - {"migrate"}:
        assert services[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "redis": {"condition": "service_healthy"},
        }, name
    assert services["migrate"]["restart"] == services["first-run"]["restart"] == "no"
    assert services["beat"].get("deploy", {}).get("replicas", 1) == 1

    assert "127.0.0.1:8000:8000" in services["web"]["ports"]
    assert "healthcheck" not in services["web"], "web keeps the image's HEALTHCHECK on /health"
    assert "inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])


def test_long_running_services_come_back_after_a_crash_or_a_reboot():
    services = compose()["services"]
    for name in ("db", "redis", "web", "worker", "beat"):
        assert services[name]["restart"] == "unless-stopped", name


def test_dockerfile_builds_a_non_root_image_with_static_files_and_a_health_probe():
    assert instruction_args("FROM") == ["python:3.11-slim"]
    copies = instruction_args("COPY")
    assert copies.index("requirements.txt ./") < copies.index(". .")
    assert any("pip install --no-cache-dir -r requirements.txt" in run for run in instruction_args("RUN"))
    (user,) = instruction_args("USER")
    assert user.split(":")[0] not in {"root", "0"}
    assert any("manage.py collectstatic --noinput" in run for run in instruction_args("RUN"))
    assert "/health" in " ".join(health_probe())
    assert instruction_args("ENTRYPOINT") == ['["bin/entrypoint"]']
    assert instruction_args("CMD") == ['["web"]']
    env = " ".join(instruction_args("ENV"))
    assert "PYTHONUNBUFFERED=1" in env and "PYTHON=python" in env


def test_dockerignore_keeps_local_state_and_secrets_out_of_the_image():
    ignored = set((ROOT / ".dockerignore").read_text().splitlines())
    assert {".git", ".venv", "var", "staticfiles", ".env", "kasparro.env"} <= ignored


def example_names(name: str) -> set[str]:
    """A set line, or a commented one showing the default."""
    return set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]*)=", (ROOT / name).read_text(), re.MULTILINE))


def test_env_examples_name_exactly_what_the_deployment_reads():
    settings = (ROOT / "kasparro" / "settings.py").read_text()
    read_by_settings = set(re.findall(r"(?:\benv|Env\(\))\.\w+\(\s*\"([A-Z][A-Z0-9_]*)\"", settings))
    interpolated_by_compose = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (ROOT / "docker-compose.yml").read_text()))
    read_by_entrypoint = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", ENTRYPOINT.read_text()))
    compose_own, app = example_names(".env.example"), example_names("kasparro.env.example")

    assert read_by_settings - app - compose_own == set()
    assert interpolated_by_compose == compose_own, "the compose file's variables are all in .env.example, and only they"
    assert app - read_by_settings - read_by_entrypoint == set()
    assert {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"} <= compose_own
    app_example = (ROOT / "kasparro.env.example").read_text()
    assert re.search(r"^SECRET_KEY=$", app_example, re.MULTILINE), "no key, not even a sample one, to deploy by mistake"


def test_each_service_gets_only_the_variables_it_needs():
    services = compose()["services"]
    # The database: its three variables, nothing of Kasparro's.
    assert "env_file" not in services["db"]
    assert set(services["db"]["environment"]) == {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"}
    assert "env_file" not in services["redis"] and "environment" not in services["redis"]
    # The app: Kasparro's settings and the URLs; the database password only inside DATABASE_URL.
    app_file = example_names("kasparro.env.example")
    assert not {name for name in app_file if name.startswith("POSTGRES_")}
    for name, service in app_services().items():
        assert service["env_file"] == "kasparro.env", name
        assert set(service["environment"]) <= {"DATABASE_URL", "REDIS_URL", "FORWARDED_ALLOW_IPS"}, name
        for variable, value in service["environment"].items():
            assert ("${POSTGRES_PASSWORD}" in value) == (variable == "DATABASE_URL"), (name, variable)


def test_web_role_passes_forwarded_allow_ips_to_gunicorn():
    body = ENTRYPOINT.read_text().split("  web)", 1)[1].split(";;", 1)[0]
    assert '--forwarded-allow-ips "${FORWARDED_ALLOW_IPS:-127.0.0.1}"' in body


def test_in_compose_web_trusts_forwarded_headers_only_from_the_network_gateway():
    import ipaddress

    model = compose()
    (ipam,) = model["networks"]["default"]["ipam"]["config"]
    assert ipaddress.ip_address(ipam["gateway"]) in ipaddress.ip_network(ipam["subnet"])
    assert (
        model["services"]["web"]["environment"]["FORWARDED_ALLOW_IPS"] == f"${{FORWARDED_ALLOW_IPS:-{ipam['gateway']}}}"
    )
    assert [name for name, svc in model["services"].items() if "FORWARDED_ALLOW_IPS" in svc.get("environment", {})] == [
        "web"
    ]
