# syntax=docker/dockerfile:1
# Build: the Swift toolchain with librdkafka's headers (Debian's librdkafka-dev, never vendored).
FROM swift:6.2-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends librdkafka-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
# Dependencies first, so that a source change does not fetch them again.
COPY Package.swift ./
RUN swift package resolve
COPY Sources Sources
COPY Tests Tests
RUN swift build -c release --product provisioner --static-swift-stdlib \
 && install -D "$(swift build -c release --show-bin-path)/provisioner" /out/provisioner

# Run: slim Debian with librdkafka's runtime only, as a user without privileges.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends librdkafka1 libstdc++6 ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin provisioner
COPY --from=build /out/provisioner /usr/local/bin/provisioner
COPY config /etc/provisioner
USER 10001:10001
WORKDIR /etc/provisioner
# 9464: /metrics and /health (workers); 8080: the simulators (`simulate`).
EXPOSE 9464 8080
ENTRYPOINT ["/usr/local/bin/provisioner"]
CMD ["run", "--config", "/etc/provisioner/worker.yaml"]
