import type { Readiness } from '@nimbus/api';
import type { Container, Probe, Volume } from './objects.js';

/** What every runtime pod shares (runtime-node's and runtime-python's), a function's own or a warm pool's. Pure values. */

export const RUNTIME_PORT = 8080;

/** Non-root, with the runtime's default seccomp profile. */
export function podSecurityContext(runAsUser: number) {
  return { runAsNonRoot: true, runAsUser, seccompProfile: { type: 'RuntimeDefault' } } as const;
}

/** A read-only root, no privilege escalation, no capabilities. */
export function containerSecurity(): Container['securityContext'] {
  return {
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ['ALL'] },
  };
}

/** Probed every second, so a replica takes traffic the moment it can; `path` decides what ready means. */
export function readinessProbe(path: string): Probe {
  return { httpGet: { path, port: 'http' }, periodSeconds: 1, failureThreshold: 1 };
}

/**
 * A container function's readiness as its spec says (a TCP connection when it says nothing),
 * every second; three misses in a row take a ready replica out, as one slow answer from someone
 * else's server should not.
 */
export function containerReadinessProbe(readiness: Readiness | undefined): Probe {
  const check =
    readiness !== undefined && 'httpGet' in readiness
      ? { httpGet: { path: readiness.httpGet.path, port: 'http' } }
      : { tcpSocket: { port: 'http' } };
  return { ...check, periodSeconds: 1, timeoutSeconds: 1, failureThreshold: 3 };
}

export const LIVENESS_PROBE: Probe = Object.freeze({
  httpGet: { path: '/_/health', port: 'http' },
  periodSeconds: 10,
  failureThreshold: 3,
});

/** The only writable place in the container: /tmp, on a small emptyDir. */
export const tmpVolume = (): Volume => ({ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } });
export const tmpMount = (): Container['volumeMounts'][number] => ({
  name: 'tmp',
  mountPath: '/tmp',
  readOnly: false,
});

/**
 * After SIGTERM a runtime pod goes on taking requests this long (reporting not ready), so every
 * gateway has seen it leave the EndpointSlice before its address goes away.
 */
export const SHUTDOWN_DELAY_MS = 3000;
