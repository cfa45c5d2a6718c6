import type { TriggerStatus } from '@nimbus/api';
import type { Verdict } from '../reconcile/status.js';

/** How provisioning one trigger went, for its status. */
export interface TriggerProvisioning {
  readonly name: string;
  readonly kind: string;
  readonly ok: boolean;
  readonly reason: string;
  readonly message: string;
}

/** What the gateways last said of one trigger (the freshest report that names it). */
export interface TriggerHealthSeen {
  readonly connected: boolean;
  readonly backlog?: number;
  readonly lastError?: string;
  /** Epoch ms. */
  readonly lastEventAt?: number;
}

/**
 * Each trigger's status and the TriggersReady verdict, from how provisioning went and what the
 * gateways report. A trigger is ready when it is set up and no report says its reader is
 * disconnected; until a gateway reports, set up is all that is known, and it says so. Pure.
 */
export function triggerStatuses(
  outcomes: readonly TriggerProvisioning[],
  health: (trigger: string) => TriggerHealthSeen | undefined,
): { verdict: Verdict; triggers: TriggerStatus[] } {
  const triggers = outcomes.map((outcome): TriggerStatus => {
    const seen = outcome.ok ? health(outcome.name) : undefined;
    const status: TriggerStatus = {
      name: outcome.name,
      kind: outcome.kind,
      ready: outcome.ok && seen?.connected !== false,
      reason: outcome.reason,
      message: outcome.message,
    };
    if (seen === undefined) {
      if (outcome.ok) status.message = `${outcome.message}; no gateway has reported on its reader yet`;
      return status;
    }
    status.connected = seen.connected;
    if (!seen.connected) {
      status.reason = 'Disconnected';
      status.message = `${outcome.kind} trigger ${outcome.name} is not connected: ${seen.lastError ?? 'no reason given'}`;
    } else {
      status.reason = 'Connected';
      status.message = `${outcome.kind} trigger ${outcome.name} is set up and its reader connected`;
    }
    if (seen.backlog !== undefined) status.backlog = seen.backlog;
    if (seen.lastError !== undefined) status.lastError = seen.lastError;
    if (seen.lastEventAt !== undefined)
      status.lastEventTime = new Date(seen.lastEventAt).toISOString().replace(/\.\d+Z$/, 'Z');
    return status;
  });
  const failing = triggers.filter((t) => !t.ready);
  const verdict: Verdict =
    failing.length === 0
      ? {
          status: 'True',
          reason: 'TriggersReady',
          message: `${triggers.length} event-source trigger${triggers.length === 1 ? ' is' : 's are'} set up`,
        }
      : {
          status: 'False',
          reason: failing[0]?.reason ?? 'TriggersNotReady',
          message: failing.map((t) => t.message).join('; '),
        };
  return { verdict, triggers };
}
