# syntax=docker/dockerfile:1
# The registry-sync operator: the project's wheel and its pinned dependencies on a slim
# Python, run as a non-root user with a read-only root filesystem in mind.
#   docker build -t registry-sync:0.1.0 .      (or podman/buildah; BuildKit syntax)
ARG PYTHON_IMAGE=docker.io/library/python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS wheels
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
COPY pyproject.toml constraints.txt README.md ./
COPY operator/ operator/
# The project's wheel, then every dependency as a wheel at the versions CI tested.
RUN pip wheel --no-deps --wheel-dir /wheels . \
    && pip wheel --wheel-dir /wheels --constraint constraints.txt /wheels/registry_sync-*.whl

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    HOME=/tmp
# Installed from the wheels only (no index): the image holds exactly what was built above.
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels /wheels/registry_sync-*.whl \
    && useradd --system --uid 1001 --gid 0 --no-create-home --home-dir /tmp registry-sync
# Numeric, so that runAsNonRoot can verify it; group 0 as OpenShift's random UIDs have.
USER 1001:0
# webhook (HTTPS), metrics, liveness
EXPOSE 9443 8080 8081
ENTRYPOINT ["registry-sync"]
CMD ["run"]
