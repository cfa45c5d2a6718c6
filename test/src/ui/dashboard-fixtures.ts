import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { eventually } from '@nimbus/testkit';
import type { Page } from 'playwright-core';
import { postAsync } from '../harness/async-calls.js';
import { inlineFunction } from '../harness/fixtures.js';

/** Where the dashboard tests save a screenshot of each view (gitignored). */
export const ARTIFACTS = fileURLToPath(new URL('../../../artifacts/ui/', import.meta.url));

/** What a hostile function author writes into its logs and answers: markup that must stay text. */
export const PAYLOADS = {
  img: '<img src=x onerror="window.__pwned=1">',
  script: '<script>window.__pwned=2</script>',
  load: '<img src=x onerror="window.__pwned=3">',
  /** In a trigger's topic filter: quoted back in its status, where an author's spec goes. */
  trigger: '<img src=x onerror=window.__pwned=4>',
  /** A queue's name (no spaces in one): quoted back by its reader's last error once it is deleted. */
  queue: '<img/src/onerror=window.__pwned=5>',
};

const oneReplica = 'scale:\n  min: 1\n  max: 1\nasync:\n  maxAttempts: 1';

/**
 * The functions the dashboard is shown: one that logs what it is asked to, one that fails its
 * first call only (a dead letter to redrive), one whose log lines and errors are markup, one
 * whose handler fails to load with markup in its error, and one with event-source triggers whose
 * topic filter and queue name are markup (its status quotes them, as a message and a last error).
 */
export const DASHBOARD_FUNCTIONS = {
  'hello.yaml': inlineFunction(
    'hello',
    `export default async (event) => {
  console.log('visit', event.query.mark ?? '');
  return 'hi';
};`,
    oneReplica,
  ),
  'flaky.yaml': inlineFunction(
    'flaky',
    `let calls = 0;
export default async () => {
  calls += 1;
  return calls === 1 ? { statusCode: 503, body: 'not yet' } : 'done';
};`,
    oneReplica,
  ),
  'evil.yaml': inlineFunction(
    'evil',
    `export default async () => {
  console.log(${JSON.stringify(PAYLOADS.img)});
  console.log(${JSON.stringify(PAYLOADS.script)});
  return { statusCode: 500, body: ${JSON.stringify(PAYLOADS.img + PAYLOADS.script)} };
};`,
    oneReplica,
  ),
  'broken.yaml': inlineFunction('broken', `throw new Error(${JSON.stringify(PAYLOADS.load)});`, oneReplica),
  // Triggers on the test's MQTT broker (Secret broker) and RabbitMQ (Secret amqp), with markup in specs.
  'sensors.yaml': inlineFunction(
    'sensors',
    'export default async () => ({ ok: true });',
    `triggers:
  - name: telemetry
    mqtt:
      connection: { name: broker, key: url }
      topics: ['sensors/#']
  - name: hostile
    mqtt:
      connection: { name: broker, key: url }
      topics: ['sensors/#/${PAYLOADS.trigger}']
  - name: jobs
    rabbitmq:
      connection: { name: amqp, key: url }
      queue: '${PAYLOADS.queue}'
      declare: true`,
  ),
};

/** Queues an async call (retrying the 503 of a queue still being set up) and returns its id. */
export async function queueCall(base: string, fn: string): Promise<string> {
  const reply = await eventually(
    async () => {
      const r = await postAsync(base, fn, { 'content-type': 'text/plain' }, 'payload');
      return r.status === 503 ? undefined : r;
    },
    10_000,
    `the queue to take a call to ${fn}`,
  );
  if (reply.status !== 202) throw new Error(`POST /async-function/${fn}: ${reply.status} ${reply.text}`);
  return reply.headers['x-call-id'] as string;
}

export async function screenshot(page: Page, view: string): Promise<void> {
  await mkdir(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: `${ARTIFACTS}${view}.png`, fullPage: true });
}

/** The first canvas of a chart as a PNG data URL: it changes when the plot does. */
export function chartPixels(page: Page, chart: string): Promise<string> {
  return page.$eval(`[data-chart="${chart}"] canvas`, (c) =>
    (c as unknown as { toDataURL(): string }).toDataURL(),
  );
}
