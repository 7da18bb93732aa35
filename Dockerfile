# The regis binary in a minimal image: Debian 12's glibc, CA certificates and nothing else
# (no shell), run as the unprivileged user nonroot (65532).
#
#   docker build -t regis .
#   docker run --rm -e DISCORD_PUBLIC_KEY=... -p 8080:8080 regis serve --role receiver
#
# Image size: the stripped binary is about 48 MB (47 505 648 bytes from
# `cargo build --release -p regis-bot` then `strip`, 2026-12-08), on top of the distroless base
# (its size not measured here: this machine has no container engine and cannot pull images).

# Build stage: the whole workspace, built as the tests build it (--locked), with the default
# features (the /mando archive on S3 and Google Cloud Storage).
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p regis-bot \
    && install -D -s -m 0755 target/release/regis /out/regis

# Runtime stage.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /out/regis /regis
USER nonroot:nonroot
# Writable by nonroot: the default data_dir (./regis-data) lands here.
WORKDIR /home/nonroot
# A container listens on every interface (Regis's own default is 127.0.0.1:8080).
ENV REGIS_HTTP_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/regis"]
CMD ["serve", "--role", "receiver,worker"]
