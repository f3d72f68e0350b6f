# The proxctl simulator in a container, for other projects' CI:
#   docker build -t proxctl-sim .
#   docker run --rm -p 8006:8006 -e PROXCTL_SIM_TOKEN='root@pam!ci=<uuid>' \
#     -v "$PWD/apidata.js:/schema/apidata.js:ro" proxctl-sim --schema /schema/apidata.js
# The image holds no PVE schema (it is Proxmox's, AGPL-3.0): mount your own, see
# docs/simulator.md. Without one, only the simulator's own families answer.
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin proxctl

FROM debian:bookworm-slim
RUN useradd --system --home /var/lib/proxctl-sim --create-home proxctl-sim
COPY --from=build /src/target/release/proxctl /usr/local/bin/proxctl
USER proxctl-sim
WORKDIR /var/lib/proxctl-sim
EXPOSE 8006
# The ready file tells a waiting CI step the URL and the certificate fingerprint.
ENTRYPOINT ["proxctl", "sim", "--listen", "0.0.0.0:8006", "--ready-file", "/var/lib/proxctl-sim/ready.json", "--ca-out", "/var/lib/proxctl-sim/pve-root-ca.pem"]
CMD ["--nodes", "3"]
