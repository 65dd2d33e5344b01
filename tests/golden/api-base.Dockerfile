# api-base: rendered by baseimg from templates/api-base.Dockerfile.j2; do not edit.
FROM localhost:5000/base/python:3.11.9-ef0312e079b4

LABEL org.opencontainers.image.base.name="localhost:5000/base/python:3.11.9-ef0312e079b4" \
      org.opencontainers.image.description="Base of the API services, built on the company Python runtime" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://git.example.com/platform/base-images" \
      org.opencontainers.image.title="api-base" \
      org.opencontainers.image.vendor="Example Corp" \
      org.opencontainers.image.version="1.4.0"

ENV APP_HOME=/srv/app \
    PORT=8000 \
    PATH=/srv/app/.venv/bin:$PATH

WORKDIR /srv/app

# A virtual environment owned by the app user: services install their dependencies into it.
COPY --chown=app:app pip.conf /etc/pip.conf
COPY --chown=app:app healthcheck.py /usr/local/bin/healthcheck
RUN chmod 0755 /usr/local/bin/healthcheck \
 && python -m venv /srv/app/.venv \
 && chown -R app:app /srv/app

USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD ["healthcheck"]
