import type { ResolvedSource } from '@nimbus/api';
import { Counter, type Registry } from 'prom-client';

type Labels = 'namespace' | 'function' | 'trigger' | 'kind';

/**
 * Pushed requests (webhooks, S3 notifications) accepted with what a trigger's Secret held before
 * its last rotation, during the grace: how many senders are still to be moved to the new secret.
 * A count rather than a log line each, which a busy sender would turn into a flood.
 */
export class SecretGraceMetrics {
  private readonly accepted: Counter<Labels>;

  constructor(registry: Registry) {
    this.accepted = new Counter({
      name: 'nimbus_source_secret_grace_accepted_total',
      help:
        "Pushed requests accepted with a trigger's previous secret during the grace after its Secret " +
        'was rotated (NIMBUS_SOURCE_SECRET_GRACE_MS): senders not yet moved to the new one.',
      labelNames: ['namespace', 'function', 'trigger', 'kind'],
      registers: [registry],
    });
  }

  acceptedInGrace(source: ResolvedSource): void {
    this.accepted.inc({
      namespace: source.namespace,
      function: source.function,
      trigger: source.name,
      kind: source.kind,
    });
  }
}
