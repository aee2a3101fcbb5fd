# Container image of avepoint-backup-exporter. Build with BuildKit (the default since Docker 23), naming the
# commit it is built from (the org.opencontainers.image.revision label; empty when not given):
#
#   docker build --build-arg REVISION="$(git rev-parse HEAD)" -t avepoint-backup-exporter .
#   docker run --read-only -p 9877:9877 avepoint-backup-exporter --demo
#   docker run --read-only -p 9877:9877 \
#     -v "$PWD/config.yml:/etc/avepoint-exporter/config.yml:ro" \
#     -v "$PWD/secrets:/run/secrets/avepoint:ro" \
#     -v avepoint-state:/var/lib/avepoint-exporter \
#     avepoint-backup-exporter
#
# The root filesystem can be read-only: the only thing the exporter writes is its state file, and
# /var/lib/avepoint-exporter (the working directory, a volume owned by the runtime user) is the place
# for it: set `state_file: /var/lib/avepoint-exporter/state.json` in the config file. The image sets no
# AVEPOINT_* variable on purpose, since those override the config file.
# The HEALTHCHECK asks http://127.0.0.1:9877/-/healthy; with another --web.listen-address, override it at
# `docker run`. With TLS on (tls_server_config in --web.config.file) run with `-e HEALTHCHECK_SCHEME=https`: it
# then asks https://127.0.0.1:9877/-/healthy without checking the certificate (it only asks whether the process
# on loopback answers). /-/healthy needs no credentials with basic auth unless web.open_health_check is false;
# then, or with client certificates required (RequireAndVerifyClientCert), disable it (--no-healthcheck).

ARG PYTHON_IMAGE=python:3.11-slim

# The builder stage is thrown away, so it carries none of the labels the lint requires of the image.
# hadolint ignore=DL3049
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY exporter/ exporter/
COPY avepoint_simulator/ avepoint_simulator/
# Only the project's own wheel: its dependencies are binary wheels on the index, so the final stage
# needs no compiler to install them.
RUN python -m pip wheel --no-cache-dir --no-deps -w /wheels .

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
# The commit the image is built from, so an image found running can be traced to its source.
ARG REVISION=""
LABEL org.opencontainers.image.title="avepoint-backup-exporter" \
      org.opencontainers.image.source="https://github.com/avepoint-backup-exporter/avepoint-backup-exporter" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.description="Prometheus exporter for AvePoint cloud backup: every customer's backup jobs as labelled gauges" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:3.11-slim"
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH
# The wheel is bind-mounted from the builder, so it leaves no layer behind.
RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir /wheels/*.whl \
    # the report's charts (the `report` extra: pygal, pure Python) for the chart's report CronJob
    && /opt/venv/bin/pip install --no-cache-dir 'pygal>=3.0' \
    && mkdir -p /var/lib/avepoint-exporter /etc/avepoint-exporter \
    && chown 65532:65532 /var/lib/avepoint-exporter
WORKDIR /var/lib/avepoint-exporter
VOLUME ["/var/lib/avepoint-exporter"]
USER 65532:65532
EXPOSE 9877
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["/opt/venv/bin/python", "-c", "import os, ssl, urllib.request; c = ssl.create_default_context(); c.check_hostname = False; c.verify_mode = ssl.CERT_NONE; urllib.request.urlopen('http://127.0.0.1:9877/-/healthy'.replace('http', os.environ.get('HEALTHCHECK_SCHEME') or 'http', 1), timeout=4, context=c)"]
ENTRYPOINT ["avepoint-backup-exporter"]
CMD ["--config.file=/etc/avepoint-exporter/config.yml"]
