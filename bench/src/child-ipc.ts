import type { ChildProcess } from 'node:child_process';

export interface PortReport {
  /** Wait for `{type:'ready'}` after `{type:'listening'}` (the runtime loads its handler in between). */
  readonly awaitReady: boolean;
  readonly timeoutMs: number;
}

/**
 * The port a child reports over its IPC channel as `{type:'listening', port}`, the message the
 * runtime sends its supervisor and that the bench's own servers imitate. Rejects when the child
 * exits, reports `load-failed`, or says nothing in time.
 */
export function reportedPort(child: ChildProcess, name: string, report: PortReport): Promise<number> {
  return new Promise((resolve, reject) => {
    let port: number | undefined;
    const settle = (error: Error | undefined) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      child.off('error', onError);
      if (error !== undefined) reject(error);
      else resolve(port as number);
    };
    const onMessage = (message: unknown) => {
      if (typeof message !== 'object' || message === null || !('type' in message)) return;
      if (message.type === 'listening' && 'port' in message && typeof message.port === 'number') {
        port = message.port;
        if (!report.awaitReady) settle(undefined);
      } else if (message.type === 'ready' && port !== undefined) {
        settle(undefined);
      } else if (message.type === 'load-failed') {
        const reason = 'reason' in message ? String(message.reason) : 'unknown';
        settle(new Error(`${name} could not load its handler: ${reason}`));
      }
    };
    const onExit = (code: number | null, signal: NodeJS.Signals | null) =>
      settle(new Error(`${name} exited before it was listening (code ${code}, signal ${signal})`));
    const onError = (error: Error) => settle(new Error(`${name} could not be started`, { cause: error }));
    const timer = setTimeout(
      () => settle(new Error(`${name} did not report its port within ${report.timeoutMs} ms`)),
      report.timeoutMs,
    );
    child.on('message', onMessage);
    child.once('exit', onExit);
    child.once('error', onError);
  });
}
