"""Delivery, read as a user of the repository meets it: CI on GitHub runs what .ci/run and the
README run, the image workflow publishes the tags and labels it promises, Dependabot groups what
is released together, and the Azure deployment runs the image's own compose files. The files'
syntax is `make lint`'s job (actionlint, check-jsonschema, hadolint, cloud-init, shellcheck)."""

import fnmatch
import re
from pathlib import Path

import yaml
from jsonschema import Draft7Validator

from tests.factories import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
AZURE = ROOT / "deploy" / "azure"


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def workflow(name: str) -> dict:
    model = load(WORKFLOWS / name)
    # YAML 1.1 reads the key `on` as True.
    model["on"] = model.pop(True)
    return model


def runs(job: dict) -> list[str]:
    return [step["run"] for step in job["steps"] if "run" in step]


def uses(job: dict, action: str) -> dict:
    (step,) = [step for step in job["steps"] if step.get("uses", "").startswith(action + "@")]
    return step


def ci_run_defaults() -> dict[str, str]:
    return dict(re.findall(r"^export (\w+)=\$\{\1:-(.+)\}$", (ROOT / ".ci" / "run").read_text(), re.MULTILINE))


def test_ci_runs_the_readme_command_after_the_linters_as_ci_run_does():
    readme_commands = re.search(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL).group(1)
    assert re.search(r"^make test\b", readme_commands, re.MULTILINE)
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    ci_run = [line.removesuffix(" || status=$?") for line in lines if line.startswith("make ")]
    # The image smoke test needs podman and no registry: GitHub builds the image in image.yml instead.
    assert ci_run == ["make lint", "make install browser", "make image-smoke", "make test"]
    # The embedded default's run of the same command, in the background beside the image and PostgreSQL.
    embedded = [line for line in lines if line.startswith("env -u DATABASE_URL -u REDIS_URL -u CELERY_BROKER_URL")]
    assert len(embedded) == 1 and " make test " in embedded[0]

    jobs = workflow("ci.yml")["jobs"]
    assert runs(jobs["lint"]) == ["make lint"]
    assert runs(jobs["test"]) == ["make test"]
    assert runs(jobs["test-embedded"]) == ["make test"]


def test_ci_tests_on_postgresql_15_and_redis_7_at_the_urls_ci_run_uses():
    ci = workflow("ci.yml")
    assert {"push", "pull_request"} <= set(ci["on"])
    job = ci["jobs"]["test"]
    services = job["services"]
    assert services["postgres"]["image"] == "postgres:15"
    assert services["redis"]["image"] == "redis:7"
    assert "--health-cmd" in services["postgres"]["options"] and "pg_isready" in services["postgres"]["options"]
    assert "--health-cmd" in services["redis"]["options"] and "redis-cli ping" in services["redis"]["options"]
    assert services["postgres"]["env"]["POSTGRES_HOST_AUTH_METHOD"] == "trust"

    defaults = ci_run_defaults()
    assert job["env"] == {"DATABASE_URL": defaults["DATABASE_URL"], "REDIS_URL": defaults["REDIS_URL"]}
    assert "127.0.0.1:5432:5432" in services["postgres"]["ports"]
    assert "127.0.0.1:6379:6379" in services["redis"]["ports"]


def test_the_embedded_job_sets_no_database_or_broker():
    job = workflow("ci.yml")["jobs"]["test-embedded"]
    assert "services" not in job
    assert not {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL"} & set(job.get("env", {}))


def test_every_ci_job_uses_python_3_11_with_pip_cached_on_every_requirement_file():
    requirement_files = sorted(path.name for path in ROOT.glob("requirements*.txt"))
    assert {"requirements.txt", "requirements-dev.txt", "requirements-lint.txt"} <= set(requirement_files)
    for name, job in workflow("ci.yml")["jobs"].items():
        setup = uses(job, "actions/setup-python")["with"]
        assert setup["python-version"] == "3.11", name
        assert setup["cache"] == "pip", name
        keyed_on = [f for f in requirement_files if fnmatch.fnmatch(f, setup["cache-dependency-path"])]
        assert keyed_on == requirement_files, name


def test_the_image_is_published_on_main_and_version_tags_and_only_built_for_pull_requests():
    image = workflow("image.yml")
    assert image["on"]["push"] == {"branches": ["main"], "tags": ["v*.*.*"]}
    assert "pull_request" in image["on"]
    (job,) = image["jobs"].values()
    assert job["permissions"]["packages"] == "write"

    meta = uses(job, "docker/metadata-action")["with"]
    tags = [line.strip() for line in meta["tags"].splitlines() if line.strip()]
    assert {
        "type=edge,branch=main",
        "type=semver,pattern={{version}}",
        "type=semver,pattern={{major}}.{{minor}}",
    } <= set(tags)
    assert meta["flavor"] == "latest=false"
    (latest,) = [tag for tag in tags if tag.startswith("type=raw,value=latest,")]
    assert "refs/tags/v" in latest and "!contains(github.ref_name, '-')" in latest
    assert meta["images"] == "${{ steps.release.outputs.image }}"

    build = uses(job, "docker/build-push-action")["with"]
    assert build["push"] == "${{ github.event_name != 'pull_request' }}"
    assert uses(job, "docker/login-action")["if"] == "github.event_name != 'pull_request'"
    assert build["cache-from"] == "type=gha" and build["cache-to"].startswith("type=gha")
    assert build["labels"] == "${{ steps.meta.outputs.labels }}"
    assert build["provenance"] == "mode=max"
    attest = uses(job, "actions/attest-build-provenance")
    assert attest["with"]["subject-digest"] == "${{ steps.build.outputs.digest }}"


def test_the_image_carries_pyproject_version_and_a_tag_must_match_it():
    (job,) = workflow("image.yml")["jobs"].values()
    (release,) = [step for step in job["steps"] if step.get("id") == "release"]
    assert "pyproject.toml" in release["run"] and "GITHUB_REF_NAME#v" in release["run"]
    build = uses(job, "docker/build-push-action")["with"]
    assert build["build-args"] == "KASPARRO_VERSION=${{ steps.release.outputs.version }}"
    meta = uses(job, "docker/metadata-action")["with"]
    assert meta["labels"] == "org.opencontainers.image.version=${{ steps.release.outputs.version }}"

    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^ARG KASPARRO_VERSION=", dockerfile, re.MULTILINE)
    assert 'org.opencontainers.image.version="${KASPARRO_VERSION}"' in dockerfile
    # After every RUN: a new version must not rebuild the dependency layers.
    assert dockerfile.index("ARG KASPARRO_VERSION") > dockerfile.rindex("\nRUN ")


def test_dependabot_updates_every_ecosystem_weekly_with_what_is_released_together_grouped():
    config = load(ROOT / ".github" / "dependabot.yml")
    updates = {update["package-ecosystem"]: update for update in config["updates"]}
    assert set(updates) == {"pip", "docker", "github-actions"}
    assert {update["schedule"]["interval"] for update in updates.values()} == {"weekly"}

    groups = updates["pip"]["groups"]

    def group_of(package: str) -> str:
        # Dependabot puts a dependency in the first group whose patterns match it.
        for name, group in groups.items():
            matches = any(fnmatch.fnmatch(package.lower(), p.lower()) for p in group["patterns"])
            excluded = any(fnmatch.fnmatch(package.lower(), p.lower()) for p in group.get("exclude-patterns", []))
            if matches and not excluded:
                return name
        return ""

    pinned = [
        line.split("==")[0].split("[")[0]
        for path in ROOT.glob("requirements*.txt")
        for line in path.read_text().splitlines()
        if "==" in line and not line.startswith("#")
    ]
    assert all(group_of(package) for package in pinned)
    assert {group_of(p) for p in ("Django", "djangorestframework", "django-filter", "drf-spectacular")} == {"django"}
    assert {group_of(p) for p in ("celery", "kombu", "redis", "django-celery-beat")} == {"celery"}
    assert {group_of(p) for p in ("pytest", "pytest-django", "hypothesis", "responses")} == {"test-tools"}


def compose_spec() -> Draft7Validator:
    return Draft7Validator(load(ROOT / "tests" / "fixtures" / "compose-spec.json"))


def test_the_azure_override_sends_every_container_to_journald_and_keeps_the_stack_valid():
    base, override = load(ROOT / "docker-compose.yml"), load(AZURE / "compose.azure.yml")
    assert set(override["services"]) == set(base["services"])
    for name, service in override["services"].items():
        assert service["logging"]["driver"] == "journald", name
        assert service["logging"]["options"] == {"tag": "{{.Name}}"}, name
    # Compose replaces the logging options when the driver changes.
    merged = {
        **base,
        "services": {
            name: {**svc, "logging": override["services"][name]["logging"]} for name, svc in base["services"].items()
        },
    }
    assert not list(compose_spec().iter_errors(merged))


def cloud_init() -> dict:
    return load(AZURE / "cloud-init.yaml")


def written(path: str) -> str:
    (content,) = [entry["content"] for entry in cloud_init()["write_files"] if entry["path"] == path]
    return content


def dockerignored(path: str) -> bool:
    """Whether .dockerignore keeps `path` out of the build context (last matching line wins)."""
    ignored = False
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        pattern = line.strip()
        if not pattern or pattern.startswith("#"):
            continue
        negated = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p, pattern.removeprefix("**/")) for p in prefixes):
            ignored = not negated
    return ignored


def test_the_vm_takes_its_compose_files_from_the_image_it_runs():
    configure = written("/usr/local/sbin/kasparro-configure")
    copied = re.findall(r'docker cp "\$container:/app/([^"]+)"', configure)
    assert sorted(copied) == ["deploy/azure/compose.azure.yml", "docker-compose.yml"]
    for path in [*copied, "pyproject.toml"]:
        assert (ROOT / path).is_file(), path
        assert not dockerignored(path), f"{path} must reach the image"
    assert "COMPOSE_FILE=docker-compose.yml:compose.azure.yml" in configure
    assert "KASPARRO_IMAGE" in configure and 'docker pull --quiet "$image"' in configure


def test_the_vm_reads_its_settings_from_key_vault_with_its_managed_identity():
    configure = written("/usr/local/sbin/kasparro-configure")
    assert "identity/oauth2/token" in configure and "resource=https%3A%2F%2Fvault.azure.net" in configure
    assert ".vault.azure.net/secrets" in configure
    for required in ("SECRET_KEY", "POSTGRES_PASSWORD", "KASPARRO_IMAGE"):
        assert required in configure
    # The tags the deploy script sets are the ones the VM reads.
    deploy = (AZURE / "deploy.sh").read_text()
    for tag in re.findall(r"vm_tag (kasparro-[a-z-]+)", configure):
        assert f'"{tag}=' in deploy, tag


def test_the_stack_is_a_systemd_unit_started_on_boot_and_beat_stays_the_only_scheduler():
    unit = written("/etc/systemd/system/kasparro.service")
    assert "ExecStart=/usr/bin/docker compose up --detach --no-build" in unit
    assert "ExecStartPre=-/usr/local/sbin/kasparro-configure" in unit
    # An upgrade that cannot be configured must fail, not carry on with the old image.
    assert "ExecReload=/usr/local/sbin/kasparro-configure" in unit
    assert "WantedBy=multi-user.target" in unit and "Restart=on-failure" in unit
    assert "systemctl enable kasparro.service" in cloud_init()["runcmd"]
    text = (AZURE / "cloud-init.yaml").read_text()
    assert not re.search(r"\bcron|OnCalendar|\.timer\b", text), "the hourly run is Celery beat's, inside the stack"


def test_caddy_terminates_tls_for_the_vm_name_in_front_of_the_loopback_port():
    assert "caddy" in cloud_init()["packages"]
    caddyfile = written("/etc/caddy/Caddyfile")
    assert "{$KASPARRO_DOMAIN} {" in caddyfile
    assert "reverse_proxy 127.0.0.1:8000" in caddyfile
    assert "respond /metrics 404" in caddyfile
    assert "127.0.0.1:8000:8000" in load(ROOT / "docker-compose.yml")["services"]["web"]["ports"]
