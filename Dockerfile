# tikstream: the service (`tikstream run`), and the same image runs `tikstream emulator` and the CLI.
#   docker build -t tikstream .
#   docker run --rm -e TIKSTREAM_BOOTSTRAP_SERVERS=kafka:9092 -v $PWD/auth.json:/run/secrets/auth.json:ro \
#              -e TIKSTREAM_AUTH_FILE=/run/secrets/auth.json -p 9464:9464 tikstream
# Secrets are never baked in: mount the authorization file (docs/architecture.md §5). docker-compose.yml shows the whole stack.

# the native events core (native/): a Rust toolchain builds its wheel (abi3: any CPython >= 3.11)
FROM rust:1-slim-bookworm AS native
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* && python3 -m venv /opt/maturin && /opt/maturin/bin/pip install --no-cache-dir 'maturin>=1.5,<2'
WORKDIR /src/native
COPY native/Cargo.toml native/Cargo.lock native/pyproject.toml ./
COPY native/src ./src
RUN /opt/maturin/bin/maturin build --release --out /wheels

FROM python:3.11-slim AS build
WORKDIR /src
COPY --from=native /wheels /wheels
COPY pyproject.toml README.md ./
COPY tikstream ./tikstream
# with the emulator extra: compose's profile `local` runs `tikstream emulator` from this image
RUN pip wheel --no-cache-dir --wheel-dir /wheels '.[emulator]'

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    TIKSTREAM_HTTP_PORT=9464 \
    TIKSTREAM_STATE_DIR=/var/lib/tikstream/state \
    TIKSTREAM_AUTH_FILE=/run/secrets/tikstream-auth
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links /wheels 'tikstream[emulator]' tikstream-native && rm -rf /wheels \
 && useradd --system --uid 10001 --home-dir /var/lib/tikstream --create-home tikstream \
 && mkdir -p /var/lib/tikstream/state && chown -R tikstream /var/lib/tikstream
COPY examples/*.yaml /opt/tikstream/examples/
USER 10001
WORKDIR /var/lib/tikstream
EXPOSE 9464
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=3)"]
ENTRYPOINT ["tikstream"]
CMD ["run"]
