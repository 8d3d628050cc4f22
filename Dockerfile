# One image for every process; bin/entrypoint picks the role (web, worker, beat, migrate, etl).
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHON=python

WORKDIR /app

# A fixed numeric id, so Kubernetes' runAsNonRoot and host volume ownership can rely on it.
# A home of its own: gunicorn puts its control socket (for gunicornc) under $HOME.
RUN groupadd --gid 10001 kasparro \
 && useradd --uid 10001 --gid kasparro --create-home --shell /usr/sbin/nologin kasparro

# Requirements alone first: a code change reuses the installed dependencies layer.
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt

COPY . .

# Settings refuse to load without SECRET_KEY when DEBUG is off; these values exist for this step only.
# Loading settings creates var/ and staticfiles/; the runtime user owns them because, with no
# DATABASE_URL or REDIS_URL, the embedded database, broker and cache are written under var/.
RUN SECRET_KEY=collectstatic-only DEBUG=false python manage.py collectstatic --noinput \
 && chown -R kasparro:kasparro var staticfiles

USER 10001:10001
EXPOSE 8000

# Slim has no curl. Django rejects a Host outside ALLOWED_HOSTS, so the probe sends the first
# allowed name; /health is exempt from the HTTPS redirect, so plain HTTP is enough.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request as r; \
host = next((h.strip().lstrip('.') for h in os.environ.get('ALLOWED_HOSTS', '').split(',') if h.strip() not in ('', '*')), 'localhost'); \
r.urlopen(r.Request('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), headers={'Host': host}), timeout=4)"]

# The release (pyproject.toml's version), passed by .github/workflows/image.yml. Declared after
# every RUN, so a new version reuses all the cached layers.
ARG KASPARRO_VERSION=unknown
LABEL org.opencontainers.image.title="kasparro" \
      org.opencontainers.image.version="${KASPARRO_VERSION}"

ENTRYPOINT ["bin/entrypoint"]
CMD ["web"]
