"""Delivery, read as a user of the repository meets it: CI on GitHub runs what .ci/run and the
README run, the image workflow publishes the tags and labels it promises, Dependabot groups what
is released together, and the Azure deployment runs the image's own compose files. The files'
syntax is `make lint`'s job (actionlint, check-jsonschema, hadolint, cloud-init, shellcheck)."""

import fnmatch
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


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
    ci_run = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("make ")]
    assert ci_run == ["make lint", "make test"]

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
    tags = meta["tags"].split()
    assert {"type=edge,branch=main", "type=semver,pattern={{version}}", "type=semver,pattern={{major}}.{{minor}}"} <= set(tags)
    assert meta["flavor"] == "latest=auto"
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

    pinned = [line.split("==")[0].split("[")[0] for path in ROOT.glob("requirements*.txt")
              for line in path.read_text().splitlines() if "==" in line and not line.startswith("#")]
    assert all(group_of(package) for package in pinned)
    assert {group_of(p) for p in ("Django", "djangorestframework", "django-filter", "drf-spectacular")} == {"django"}
    assert {group_of(p) for p in ("celery", "kombu", "redis", "django-celery-beat")} == {"celery"}
    assert {group_of(p) for p in ("pytest", "pytest-django", "hypothesis", "responses")} == {"test-tools"}
