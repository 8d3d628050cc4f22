"""The names of the sources that feed the domain, asked of the pipeline's registry.

coins sits below etl and imports nothing of it; the wiring (settings.SOURCE_NAMES_PROVIDER)
names the function that lists them, so adding a source touches neither this app nor its schema.
"""

from django.conf import settings
from django.utils.module_loading import import_string


def source_names() -> list[str]:
    """Every source Kasparro knows, in the order a run takes them."""
    return list(import_string(settings.SOURCE_NAMES_PROVIDER)())


def source_choices() -> list[tuple[str, str]]:
    return [(name, name) for name in source_names()]
