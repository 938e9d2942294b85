# The Vigil server (`vigil-analytics serve`) as a container image.
#
#   docker build -t vigil .
#   docker run -d --name vigil -p 8765:8765 -v vigil-data:/data vigil
#   docker exec vigil vigil-analytics token      # the token Home Assistant asks for
#
# BASE_IMAGE must be glibc Debian (onnxruntime publishes no musl wheels) with or without
# Python 3.13: releases use the official Python image; the tests a bare Debian trixie made with
# debootstrap (whose python3 is 3.13). See docs/server.md.
ARG BASE_IMAGE=docker.io/library/python:3.13-slim-trixie

# ---------------------------------------------------------------------------------------- base
FROM ${BASE_IMAGE} AS base
# A bare Debian base has neither Python nor CA certificates (model downloads use HTTPS).
RUN set -eu; \
    need=""; \
    command -v python3 >/dev/null || need="python3"; \
    [ -e /etc/ssl/certs/ca-certificates.crt ] || need="$need ca-certificates"; \
    if [ -n "$need" ]; then \
      apt-get update -qq; \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $need; \
      apt-get clean; \
      rm -rf /var/lib/apt/lists/* /var/log/apt /var/log/dpkg.log; \
    fi; \
    python3 -c 'import sys; assert sys.version_info >= (3, 13), sys.version'

# ---------------------------------------------------------------------------------------- deps
FROM base AS deps
# Debian's python3 needs python3-venv for `python3 -m venv` (the Python image has it built in).
RUN set -eu; \
    if ! python3 -c 'import ensurepip' 2>/dev/null; then \
      apt-get update -qq; \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv; \
    fi; \
    python3 -m venv /opt/vigil
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
# The dependencies exactly as locked: binary wheels only (no compiler anywhere), hash-checked.
# PyAV's wheels carry their own FFmpeg libraries: the image needs no system FFmpeg. Test suites
# and onnx's backend conformance data (about 115 MB) are never run from the image. Vigil itself
# goes to /opt/vigil-app (on the venv's path): a release that changes no dependency changes only
# that small layer.
COPY requirements/server.lock /src/server.lock
RUN /opt/vigil/bin/pip install -q --only-binary=:all: --require-hashes --no-deps \
      -r /src/server.lock \
 && site=$(/opt/vigil/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))') \
 && rm -rf "$site/onnx/backend/test" \
 && find "$site" -depth -type d -name tests -exec rm -rf {} + \
 && echo /opt/vigil-app > "$site/vigil-app.pth" \
 && /opt/vigil/bin/pip uninstall -q -y pip

# --------------------------------------------------------------------------------------- build
FROM deps AS build
# Both distributions, built from this repository as wheels and installed from them.
COPY pyproject.toml README.md LICENSE /src/
COPY protocol /src/protocol
COPY core /src/core
COPY models/registry.yaml /src/models/registry.yaml
RUN /opt/vigil/bin/python -m ensurepip >/dev/null \
 && /opt/vigil/bin/python -m pip wheel -q --no-deps --wheel-dir /wheels /src/protocol /src \
 && /opt/vigil/bin/python -m pip install -q --no-deps --target /opt/vigil-app /wheels/*.whl \
 && /opt/vigil/bin/python -m pip check

# ------------------------------------------------------------------------------------- runtime
FROM base
ARG VERSION=dev
LABEL org.opencontainers.image.title="Vigil server" \
      org.opencontainers.image.description="Vigil's video analytics engine as a service for Home Assistant" \
      org.opencontainers.image.source="https://github.com/vigil-project/vigil" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}"
# uid/gid 1000: a bind-mounted data folder needs `chown 1000:1000` on the host.
RUN groupadd --system --gid 1000 vigil \
 && useradd --system --uid 1000 --gid vigil --create-home --home-dir /home/vigil vigil \
 && mkdir -p /data && chown vigil:vigil /data && chmod 0700 /data
COPY --from=deps /opt/vigil /opt/vigil
COPY --from=build /opt/vigil-app /opt/vigil-app
COPY docker/entrypoint.sh /usr/local/bin/vigil-entrypoint
COPY docker/healthcheck.py /usr/local/lib/vigil/healthcheck.py
ENV PATH=/opt/vigil-app/bin:/opt/vigil/bin:$PATH \
    VIGIL_DATA=/data \
    VIGIL_PORT=8765 \
    VIGIL_MODEL_DIR=/models \
    VIGIL_DOWNLOAD_MODELS=true \
    PYTHONUNBUFFERED=1
USER vigil
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8765
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD ["/opt/vigil/bin/python", "/usr/local/lib/vigil/healthcheck.py"]
ENTRYPOINT ["/usr/local/bin/vigil-entrypoint"]
