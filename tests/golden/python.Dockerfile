# python: rendered by baseimg from templates/python.Dockerfile.j2; do not edit.
FROM localhost:5000/base/upstream/python:3.11.9-slim-bookworm@sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd

LABEL org.opencontainers.image.base.name="localhost:5000/base/upstream/python:3.11.9-slim-bookworm@sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd" \
      org.opencontainers.image.description="Company Python runtime (non-root user, quiet pip, UTF-8, unbuffered output)" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://git.example.com/platform/base-images" \
      org.opencontainers.image.title="python" \
      org.opencontainers.image.vendor="Example Corp" \
      org.opencontainers.image.version="3.11.9"

# pip's downloads stay in a BuildKit cache mount: a rebuild after a base moved reuses them, and no
# cache ends up in a layer.
RUN --mount=type=cache,target=/root/.cache/pip \
    python -m pip install --no-compile "pip==24.0"

# Predictable Python in containers: no .pyc files in layers, logs flushed at once, UTF-8 everywhere,
# and pip that neither caches nor nags.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONFAULTHANDLER=1 \
    LANG=C.UTF-8 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home --shell /usr/sbin/nologin app
