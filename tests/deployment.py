"""The Dockerfile and the entrypoint as the deployment tests read them."""

import json
import re

from tests.factories import ROOT

ENTRYPOINT = ROOT / "bin" / "entrypoint"


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", "", "\n".join(lines))
    return [tuple(line.split(None, 1)) for line in joined.splitlines() if line.strip()]


def instruction_args(name: str) -> list[str]:
    return [args for instruction, args in dockerfile() if instruction == name]


def health_probe() -> list[str]:
    """The command of the image's HEALTHCHECK, in exec form (no shell in between)."""
    (healthcheck,) = instruction_args("HEALTHCHECK")
    return json.loads(healthcheck.split(" CMD ", 1)[1])
