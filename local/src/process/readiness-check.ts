import { request } from 'node:http';
import { connect } from 'node:net';
import type { Readiness } from '@nimbus/api';

/**
 * One readiness check of a container function's server, as the kubelet makes it: an HTTP GET of
 * the path answered 2xx or 3xx within the timeout, or a TCP connection accepted. Nothing of the
 * answer is kept but its status. Local mode's process backend and the test pod runner both use
 * it, so a function is ready by the same rule wherever it runs.
 */
export function checkReadiness(
  host: string,
  port: number,
  readiness: Readiness | undefined,
  timeoutMs: number,
): Promise<boolean> {
  return readiness !== undefined && 'httpGet' in readiness
    ? httpCheck(host, port, readiness.httpGet.path, timeoutMs)
    : tcpCheck(host, port, timeoutMs);
}

function httpCheck(host: string, port: number, path: string, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({
      host,
      port,
      path,
      agent: false,
      timeout: timeoutMs,
      headers: { 'user-agent': 'nimbus-probe' },
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.on('response', (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      resolve(code >= 200 && code < 400);
    });
    req.end();
  });
}

function tcpCheck(host: string, port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: timeoutMs });
    const settle = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.once('connect', () => settle(true));
    socket.once('timeout', () => settle(false));
    socket.once('error', () => settle(false));
  });
}
