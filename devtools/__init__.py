"""Development tools: the local source server and its fakes, and the generated market universe.

Installed in every configuration for its commands (`serve_sources` for demos and
the image smoke test, `generate_csv` for users), but nothing of the product
imports it: the import contracts in pyproject.toml hold that.
"""
