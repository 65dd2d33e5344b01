# postgres: rendered by baseimg from templates/postgres.Dockerfile.j2; do not edit.
FROM localhost:5000/base/upstream/postgres:16.2-bookworm@sha256:3333333333333333333333333333333333333333333333333333333333333333

LABEL org.opencontainers.image.base.name="localhost:5000/base/upstream/postgres:16.2-bookworm@sha256:3333333333333333333333333333333333333333333333333333333333333333" \
      org.opencontainers.image.description="PostgreSQL with the application role, database and extensions the API needs" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://git.example.com/platform/base-images" \
      org.opencontainers.image.title="postgres" \
      org.opencontainers.image.vendor="Example Corp" \
      org.opencontainers.image.version="16.2"

ENV POSTGRES_DB=app \
    APP_ROLE=app \
    APP_EXTENSIONS="pgcrypto pg_trgm citext"

# Run once, on an empty data directory, in file-name order.
COPY initdb/ /docker-entrypoint-initdb.d/
COPY postgresql.conf /etc/postgresql/postgresql.conf

CMD ["postgres", "-c", "config_file=/etc/postgresql/postgresql.conf"]
