# syntax=docker/dockerfile:1
# The registry-sync operator: the project's wheel and its hash-pinned dependencies on a slim
# Python, run as a non-root user with a read-only root filesystem in mind.
#   docker build -t registry-sync:0.1.0 .      (or podman/buildah; BuildKit syntax)
# A release names the base image by digest, so that a moved tag cannot change what it builds:
#   docker build --build-arg PYTHON_IMAGE=docker.io/library/python:3.11-slim-bookworm@sha256:<digest> .
ARG PYTHON_IMAGE=docker.io/library/python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS wheels
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
# Every dependency, and what builds the project's wheel, exactly as hashed in the requirements
# files (hack/image-requirements.sh): a file whose hash differs stops the build, and nothing
# is resolved here (--no-deps: the files list the whole closure).
COPY image-requirements.txt image-build-requirements.txt ./
RUN pip download --require-hashes --no-deps --only-binary=:all: --dest /wheels \
        -r image-requirements.txt \
    && pip install --require-hashes --no-deps --only-binary=:all: -r image-build-requirements.txt
COPY pyproject.toml README.md ./
COPY operator/ operator/
# The project's own wheel, with the build tools installed above (no other download).
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    HOME=/tmp
# Installed from the wheels only (no index), the dependencies checked against their hashes
# once more, then the project's wheel without resolving anything.
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    --mount=type=bind,source=image-requirements.txt,target=/tmp/image-requirements.txt \
    pip install --no-index --find-links /wheels --require-hashes --no-deps --only-binary=:all: \
        -r /tmp/image-requirements.txt \
    && pip install --no-index --no-deps /wheels/registry_sync-*.whl \
    && useradd --system --uid 1001 --gid 0 --no-create-home --home-dir /tmp registry-sync
# Numeric, so that runAsNonRoot can verify it; group 0 as OpenShift's random UIDs have.
USER 1001:0
# webhook (HTTPS), metrics, liveness
EXPOSE 9443 8080 8081
ENTRYPOINT ["registry-sync"]
CMD ["run"]
