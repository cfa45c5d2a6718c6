import { createHmac } from 'node:crypto';

/**
 * The headers a Standard Webhooks sender signs a request with: `webhook-id`, `webhook-timestamp`
 * (seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>` under the
 * `whsec_` secret's key.
 */
export function standardWebhookHeaders(
  secret: string,
  id: string,
  body: string,
  at = Math.floor(Date.now() / 1000),
): Record<string, string> {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const signature = createHmac('sha256', key).update(`${id}.${at}.${body}`).digest('base64');
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(at),
    'webhook-signature': `v1,${signature}`,
  };
}
