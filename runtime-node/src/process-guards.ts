import type { Logger } from '@nimbus/api/log';

export interface GuardedProcess {
  on(event: 'unhandledRejection', listener: (reason: unknown) => void): unknown;
  on(event: 'uncaughtException', listener: (error: Error) => void): unknown;
}

/**
 * Handler code that leaks a rejection or throws from a timer must not take down a replica serving
 * other invocations: log it with its stack and keep serving.
 */
export function installProcessGuards(proc: GuardedProcess, logger: Pick<Logger, 'error'>): void {
  proc.on('unhandledRejection', (reason) => {
    logger.error('unhandled promise rejection', { error: reason instanceof Error ? reason : String(reason) });
  });
  proc.on('uncaughtException', (error) => {
    logger.error('uncaught exception', { error });
  });
}
