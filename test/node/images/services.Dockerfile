# Redis and NATS for the real-node tests, from Debian's packages: no registry is reachable for the
# chart's redis and nats images. The chart runs `redis-server ...` and `nats-server --config ...`
# as commands and probes Redis with `sh -c "redis-cli ... | grep ..."`, so one image with both
# servers, redis-cli and a shell stands in for both. The chart runs Redis as 999:999 and NATS as
# 1000:1000 with a read-only root: both users exist here and write only to their /data volume.
# Built by test/node/harness/images.ts FROM the locally made Debian base.
ARG BASE
FROM ${BASE}
# The packages make system users redis and nats; they get the chart's ids, and their files follow.
RUN echo 'deb http://deb.debian.org/debian bookworm-updates main' >> /etc/apt/sources.list \
 && echo 'deb http://deb.debian.org/debian-security bookworm-security main' >> /etc/apt/sources.list \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server redis-tools nats-server \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && for user in redis:999 nats:1000; do \
      name="${user%:*}"; id="${user#*:}"; old_uid="$(id -u "$name")"; old_gid="$(id -g "$name")"; \
      groupmod --gid "$id" "$name" && usermod --uid "$id" --gid "$id" "$name" \
      && find / -xdev -user "$old_uid" -exec chown -h "$id" {} + \
      && find / -xdev -group "$old_gid" -exec chgrp -h "$id" {} + \
      || exit 1; \
    done \
 && mkdir -p /data \
 && id redis && id nats && redis-server --version && nats-server --version
WORKDIR /data
