import { createHmac, randomBytes } from 'node:crypto';
import { secretEnvName } from '@nimbus/gateway';
import { Lane } from '../../async-load.js';
import { drive, stampedBody } from '../drive.js';
import type { SourceDriver } from '../source-driver.js';

/** The signing key, random per run, in the `whsec_<base64>` form Standard Webhooks gives senders. */
const KEY = randomBytes(24);
const SECRET = `whsec_${KEY.toString('base64')}`;

/** Standard Webhooks headers (id, timestamp, v1 HMAC-SHA256 of `id.timestamp.body`) as Lane takes them. */
function signedHeaders(id: string, body: string): string {
  const at = Math.floor(Date.now() / 1000);
  const signature = createHmac('sha256', KEY).update(`${id}.${at}.${body}`).digest('base64');
  const lines = [
    'content-type: application/json',
    `webhook-id: ${id}`,
    `webhook-timestamp: ${at}`,
    `webhook-signature: v1,${signature}`,
  ];
  return `${lines.join('\r\n')}\r\n`;
}

/**
 * Signed POSTs to the trigger's URL over kept-alive connections, each resolved at its 202 (stored);
 * the origin time is a stamp in the body. The baseline is the gateway's plain /function/ route
 * with the same bodies, each resolved when the function has answered.
 */
export function webhookDriver(): SourceDriver {
  const name = 'webhook';
  const lanes = 32;
  let open: Lane[] = [];
  const post = (lane: number, ...request: Parameters<Lane['expect']>) =>
    (open[lane] as Lane).expect(...request);
  return {
    name,
    origin: 'payload',
    trigger: '- name: in\n  webhook:\n    secret: { name: bench-hook, key: key }',
    env: { [secretEnvName('bench-hook', 'key')]: SECRET },
    saturationEvents: 5_000,
    lanes,
    baselineNote: 'plain POST /function/ of the same bodies',
    originPid: () => undefined,
    async prepare() {},
    async connect(gatewayUrl) {
      const port = Number(new URL(gatewayUrl).port);
      open = Array.from({ length: lanes }, () => new Lane(port));
    },
    async publish(phase, n, lane) {
      const body = stampedBody(phase, n);
      await post(lane, `/webhook/default/${name}/in`, body, signedHeaders(`${phase}-${n}`, body), 202);
    },
    async armBaseline() {},
    async baseline(count) {
      const plain = 'content-type: application/json\r\n';
      const driven = await drive(count, lanes, (n, lane) =>
        post(lane, `/function/${name}`, stampedBody('plain', n), plain, 200),
      );
      if (driven.failed > 0) throw new Error(`plain POSTs: ${driven.failed} failed: ${driven.firstError}`);
      return (driven.sent / (driven.lastAt - driven.firstAt)) * 1000;
    },
    async close() {
      for (const lane of open) lane.close();
    },
  };
}
