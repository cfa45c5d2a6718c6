# Someone else's HTTP server as a container function for the real-node tests: Python's standard
# library serving on $PORT (8080 unless told), with /_/health as OpenFaaS's watchdogs answer it and
# /healthz, SIGTERM drained. It knows nothing of Nimbus. Built by test/node/harness/images.ts FROM
# the locally made Debian base, with python3 from Debian's packages (no registry is reachable):
# the whole standard library, as python3-minimal lacks http.server and json.
ARG BASE
FROM ${BASE}
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/*.deb \
 && python3 -c 'import http.server, json, signal, threading, sys; print(sys.version)'
COPY container-server.py /app/server.py
ENV PORT=8080
# Not root: the pod's security context would refuse a root user anyway.
USER 10001
CMD ["python3", "/app/server.py"]
