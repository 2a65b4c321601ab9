# gexlake as a container: the nightly job on Cloud Run Jobs (see README, "Run it nightly on
# Cloud Run Jobs"). Multi-stage: a Rust builder, then a slim Debian runtime with CA
# certificates (GCS, S3 and FTPS use TLS) and a non-root user.
#
#   docker build -t gexlake .
#   docker run --rm gexlake --help

FROM rust:1.95-slim-bookworm AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin gexlake \
 && install -m 0755 target/release/gexlake /usr/local/bin/gexlake

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /home/gexlake gexlake
COPY --from=builder /usr/local/bin/gexlake /usr/local/bin/gexlake
USER 10001:10001
WORKDIR /home/gexlake
# Cloud Logging reads one JSON object per line; override with GEXLAKE_LOG_FORMAT=text.
ENV GEXLAKE_LOG_FORMAT=json
ENTRYPOINT ["gexlake"]
CMD ["nightly"]
