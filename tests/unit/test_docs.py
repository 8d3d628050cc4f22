"""The docs say what the code does: the README's first-superuser command works, and what a missing
CoinCap key and a stale /health mean is told one way everywhere."""

import os
import re
import subprocess
import sys

from tests.factories import ROOT

DOCS = [ROOT / "README.md", ROOT / ".env.example", *sorted((ROOT / "docs").glob("*.md"))]


def paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n|\n\|", text)]


def test_the_readme_creates_the_first_superuser_without_a_prompt(tmp_path):
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"^(DEBUG=true DJANGO_SUPERUSER_USERNAME=.*?--noinput)$", readme, re.M | re.S).group(1)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
    env.update(KASPARRO_VAR_DIR=str(tmp_path), DEBUG="true")
    venv_python = f"{sys.executable}"
    run = lambda line: subprocess.run(  # noqa: E731 - two calls, one shape
        ["bash", "-c", line.replace(".venv/bin/python", venv_python)], cwd=ROOT, env=env, capture_output=True,
        text=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert run(".venv/bin/python manage.py migrate --noinput -v 0").returncode == 0
    created = run(command.replace("\\\n", " "))
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "Superuser created successfully."
    check = "from django.contrib.auth.models import User; print(User.objects.get(username='admin').is_superuser)"
    assert run(f'.venv/bin/python manage.py shell -v 0 -c "{check}"').stdout.strip() == "True"


def test_a_missing_coincap_key_is_told_as_not_configured_everywhere():
    told = [
        (path.name, p)
        for path in DOCS
        for p in paragraphs(path.read_text())
        if re.search(r"without (it|a CoinCap key|one)", p, re.I) and "COINCAP" in p.upper()
    ]
    assert len(told) >= 3, told
    for name, paragraph in told:
        assert "not configured" in paragraph or "not_configured" in paragraph, (name, paragraph)
        assert "partial" not in paragraph.replace("succeeded", ""), (name, paragraph)


def test_the_degraded_rule_is_told_one_way_everywhere():
    rules = [
        (path.name, p)
        for path in DOCS
        for p in paragraphs(path.read_text())
        if re.search(r"degraded\W{0,3} (while|when|until|meaning)", p)
    ]
    assert len(rules) >= 5, rules
    for name, paragraph in rules:
        assert "no source has loaded within" in paragraph, (name, paragraph)
        assert "until the first run has succeeded" not in paragraph and "no successful run" not in paragraph
