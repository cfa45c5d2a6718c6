import {
  type Condition,
  type FunctionResource,
  type TriggerStatus,
  sourceKey,
  sourceTriggersOf,
} from '@nimbus/api';
import { type TriggerProvisioning, triggerStatuses } from '@nimbus/controller/sources/trigger-status';
import type { SourceHealthReport } from '@nimbus/gateway';

/** What local mode adds to a Function's status for its event-source triggers. */
export interface TriggerView {
  readonly condition: Condition;
  readonly triggers: TriggerStatus[];
}

/**
 * Each event-source trigger's status and the TriggersReady condition, in the shape the cluster's
 * controller writes (controller/src/sources/trigger-status.ts). Locally the gateway in this process
 * both sets a trigger up and reads it, and reports either failure to its health board, so the board is
 * the whole story: a trigger whose configuration stops it (a Secret not given, a URL that does not
 * parse, a login refused) has the reason and message the controller gives the same fault; any other
 * entry was started and says whether it is connected and why not; a trigger without one has not been
 * started yet. Undefined for a Function without such triggers. Pure.
 */
export function triggerView(
  fn: Pick<FunctionResource, 'metadata' | 'spec'>,
  health: (key: string) => SourceHealthReport | undefined,
): TriggerView | undefined {
  const sources = sourceTriggersOf(fn);
  if (sources.length === 0) return undefined;
  const outcomes = sources.map((source): TriggerProvisioning => {
    const seen = health(sourceKey(source));
    const base = { name: source.name, kind: source.kind };
    if (seen === undefined)
      return {
        ...base,
        ok: false,
        reason: 'TriggerStarting',
        message: `${source.kind} trigger ${source.name} has not been started by the gateway yet`,
      };
    // What stops it is its configuration: said as the controller says it, not as a disconnection.
    if (seen.setup !== undefined) return { ...base, ok: false, ...seen.setup };
    return {
      ...base,
      ok: true,
      reason: 'Provisioned',
      message: `${source.kind} trigger ${source.name} is set up`,
    };
  });
  const { verdict, triggers } = triggerStatuses(outcomes, (name) => {
    const seen = health(sourceKey({ namespace: fn.metadata.namespace, function: fn.metadata.name, name }));
    return seen === undefined ? undefined : { ...seen, ...lastEventAt(seen) };
  });
  return { condition: { type: 'TriggersReady', ...verdict }, triggers };
}

const lastEventAt = (seen: SourceHealthReport) =>
  seen.lastEventAt === undefined ? {} : { lastEventAt: seen.lastEventAt };
