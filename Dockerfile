# Multi-stage release build of kenkocall: build with the Rust toolchain, run on a slim
# Debian as a non-root user with the prompts and dialplans beside the binary.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY migrations ./migrations
RUN cargo build --release --locked --bin kenkocall

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --home-dir /var/lib/kenkocall kenkocall
COPY --from=build /src/target/release/kenkocall /usr/local/bin/kenkocall
COPY prompts /opt/kenkocall/prompts
COPY dialplans /opt/kenkocall/dialplans
COPY kenkocall.example.toml /opt/kenkocall/kenkocall.example.toml
# Absolute asset paths; the case store (SQLite by default) lives in the working directory,
# or set KENKOCALL_DATABASE_URL=postgres://... for a shared store.
RUN printf '[ivr]\nprompts_dir = "/opt/kenkocall/prompts"\ndialplans_dir = "/opt/kenkocall/dialplans"\n[http]\nlisten = "0.0.0.0:8080"\n' \
      > /etc/kenkocall.toml
USER kenkocall
WORKDIR /var/lib/kenkocall
# SIP (UDP and TCP), staff pages, RTP range.
EXPOSE 5060/udp 5060/tcp 8080/tcp 20000-29999/udp
# `docker stop` sends this; kenkocall (PID 1 through `exec`) drains: 503 to new calls and
# OPTIONS probes, calls in progress finish for up to [node] shutdown_grace_secs (30 s),
# the rest get BYE, then it exits 0. Give it grace + 45 s before Docker's SIGKILL:
# `docker stop -t 75`, `docker run --stop-timeout 75`, or compose `stop_grace_period: 75s`.
STOPSIGNAL SIGTERM
# SIP and RTP bind the container's own address, which is also what SDP advertises.
ENTRYPOINT ["/bin/sh", "-c", "exec kenkocall --config /etc/kenkocall.toml --sip-listen \"$(hostname -i | cut -d' ' -f1):5060\" \"$@\"", "kenkocall"]
CMD ["serve"]
