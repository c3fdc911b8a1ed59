# mtls-sidecar container image: bin/sidecar, bin/sds-agent, bin/sidecarctl
# and scripts/sidecar-iptables.sh on Debian 12 slim, running as uid 1337.
#
#   docker build -t mtls-sidecar:latest .
#   docker build --build-arg SIDECAR_FILE_CAPS=cap_net_admin+ep -t mtls-sidecar:mark .
#   docker run --rm mtls-sidecar:latest --version
#
# One image for the three containers of conf/k8s/httpbin.yaml:
#   sidecar       (default entrypoint) uid 1337, no capabilities: the init
#                 container exempts uid 1337 (--mark 0, socket_mark: 0, as
#                 Istio does).  SIDECAR_FILE_CAPS=cap_net_admin+ep gives the
#                 binary the file capability it needs for socket_mark: (SO_MARK)
#                 as a non-root user; such a container must add NET_ADMIN and
#                 allow privilege escalation, or the exec fails (EPERM) / the
#                 mark cannot be set (docs/deploy.md).
#   sds-agent     command /usr/local/bin/sds-agent, uid 1337, no capabilities
#   sidecar-init  command /usr/local/bin/sidecar-iptables.sh, uid 0 with
#                 NET_ADMIN and NET_RAW only
# sidecarctl (docs/operator.md) talks to the sidecar's admin API from inside
# the container:  kubectl exec POD -c sidecar -- sidecarctl check-root
#
# Not built or run here (no container engine on the development machines):
# the build stage runs the same `make all` that CI runs, on the same Debian
# packages (scripts/deps.sh); docs/deploy.md says what was checked.

# ---------------------------------------------------------------- build
FROM debian:bookworm-slim AS build
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential pkg-config \
      libevent-dev libssl-dev libyaml-dev node-llhttp \
      libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY common/ common/
COPY proxy/ proxy/
COPY agent/ agent/
COPY ctl/ ctl/
COPY proto/ proto/
RUN make -j"$(nproc)" all \
 && build/bin/sidecar --version \
 && build/bin/sds-agent --version \
 && build/bin/sidecarctl --help >/dev/null

# ---------------------------------------------------------------- runtime
FROM debian:bookworm-slim
ARG SIDECAR_FILE_CAPS=
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libevent-2.1-7 libevent-core-2.1-7 libevent-openssl-2.1-7 libevent-pthreads-2.1-7 \
      libssl3 libyaml-0-2 libnghttp2-14 libprotobuf-c1 \
      iptables libcap2-bin \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 1337 istio-proxy \
 && useradd --uid 1337 --gid 1337 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin istio-proxy
COPY --from=build /src/build/bin/sidecar /src/build/bin/sds-agent /src/build/bin/sidecarctl /usr/local/bin/
COPY scripts/sidecar-iptables.sh /usr/local/bin/sidecar-iptables.sh
# --version before setcap: once the file capability is set, exec needs
# NET_ADMIN in the bounding set, which `docker build` does not grant.
RUN chmod 0755 /usr/local/bin/sidecar /usr/local/bin/sds-agent /usr/local/bin/sidecarctl \
      /usr/local/bin/sidecar-iptables.sh \
 && /usr/local/bin/sidecar --version \
 && /usr/local/bin/sidecarctl --help >/dev/null \
 && /usr/local/bin/sds-agent --version \
 && /usr/local/bin/sidecar-iptables.sh --dry-run >/dev/null \
 && if [ -n "$SIDECAR_FILE_CAPS" ]; then setcap "$SIDECAR_FILE_CAPS" /usr/local/bin/sidecar; fi
USER 1337:1337
EXPOSE 15001 15006 15021 15090
ENTRYPOINT ["/usr/local/bin/sidecar"]
CMD ["-c", "/etc/sidecar/sidecar.yaml"]
