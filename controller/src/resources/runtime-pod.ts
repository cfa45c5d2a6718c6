import type { Container, Volume } from './objects.js';

/** What every runtime-node pod shares, a function's own or the warm pool's. Pure values. */

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
export function readinessProbe(path: string) {
  return { httpGet: { path, port: 'http' }, periodSeconds: 1, failureThreshold: 1 };
}

export const LIVENESS_PROBE = Object.freeze({
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
