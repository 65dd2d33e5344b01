# redis: rendered by baseimg from templates/redis.Dockerfile.j2; do not edit.
FROM localhost:5000/base/upstream/redis:7.2.4-bookworm@sha256:1111111111111111111111111111111111111111111111111111111111111111

LABEL org.opencontainers.image.base.name="localhost:5000/base/upstream/redis:7.2.4-bookworm@sha256:1111111111111111111111111111111111111111111111111111111111111111" \
      org.opencontainers.image.description="Redis for local development and CI (bounded memory, AOF persistence)" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.source="https://git.example.com/platform/base-images" \
      org.opencontainers.image.title="redis" \
      org.opencontainers.image.vendor="Example Corp" \
      org.opencontainers.image.version="7.2.4"

COPY redis.conf /usr/local/etc/redis/redis.conf

# The stable settings live in redis.conf; the memory budget comes from the catalog so one file can
# describe a small CI instance and a larger local one.
CMD ["redis-server", "/usr/local/etc/redis/redis.conf", "--maxmemory", "256mb", "--maxmemory-policy", "allkeys-lru"]
