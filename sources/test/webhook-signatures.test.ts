import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import type { WebhookSignature } from '@nimbus/api';
import { PushRefusedError, type PushedRequest } from '../src/source.js';
import { verifySignature } from '../src/webhook/signatures.js';

const NOW = 1_800_000_000_000;
const SECONDS = String(NOW / 1000);
const SECRET = 'it-is-a-secret';
const STANDARD_SECRET = `whsec_${Buffer.from('standard-key-bytes').toString('base64')}`;
const body = Buffer.from('{"id":"evt_1","type":"invoice.paid","amount":42}');
const TOLERANCE = 5 * 60_000;

const hex = (key: string | Buffer, content: string | Buffer) =>
  createHmac('sha256', key).update(content).digest('hex');
const b64 = (key: string | Buffer, content: string | Buffer) =>
  createHmac('sha256', key).update(content).digest('base64');

function request(headers: Record<string, string>, content = body): PushedRequest {
  return { method: 'POST', headers, query: new URLSearchParams(), body: content };
}

/** A correctly signed request for each scheme, signed at `at` (seconds). */
function signed(scheme: WebhookSignature, at = SECONDS, content = body, secret = SECRET): PushedRequest {
  switch (scheme) {
    case 'standard': {
      const key = Buffer.from(STANDARD_SECRET.slice(6), 'base64');
      const sig = b64(key, Buffer.concat([Buffer.from(`msg_1.${at}.`), content]));
      return request(
        { 'webhook-id': 'msg_1', 'webhook-timestamp': at, 'webhook-signature': `v1,${sig}` },
        content,
      );
    }
    case 'github':
      return request(
        {
          'x-hub-signature-256': `sha256=${hex(secret, content)}`,
          'x-github-delivery': '72d3162e-cc78-11e3-81ab-4c9367dc0958',
          'x-github-event': 'push',
        },
        content,
      );
    case 'stripe':
      return request({ 'stripe-signature': `t=${at},v1=${hex(secret, `${at}.${content}`)}` }, content);
    case 'hmac-sha256':
      return request(
        {
          'x-timestamp': at,
          'x-signature-256': `sha256=${hex(secret, `${at}.${content}`)}`,
          'x-webhook-id': 'w-9',
        },
        content,
      );
  }
}

const secretOf = (scheme: WebhookSignature) => (scheme === 'standard' ? STANDARD_SECRET : SECRET);

function refused(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof PushRefusedError, String(err));
    assert.equal(err.status, 401);
    assert.match(err.message, pattern);
    return true;
  });
}

describe('webhook signatures: each scheme proves the sender, and a tampered, stale or unsigned request is refused', () => {
  const schemes: WebhookSignature[] = ['standard', 'github', 'stripe', 'hmac-sha256'];

  for (const scheme of schemes) {
    describe(scheme, () => {
      it('accepts a request signed with the secret, and names its delivery', () => {
        const verified = verifySignature(scheme, signed(scheme), secretOf(scheme), NOW, TOLERANCE);
        const ids: Record<WebhookSignature, string> = {
          standard: 'msg_1',
          github: '72d3162e-cc78-11e3-81ab-4c9367dc0958',
          stripe: 'evt_1',
          'hmac-sha256': 'w-9',
        };
        assert.equal(verified.id, ids[scheme]);
      });

      it('refuses the same signature over another body', () => {
        const good = signed(scheme);
        const tampered = { ...good, body: Buffer.from(good.body.toString().replace('42', '4200')) };
        refused(() => verifySignature(scheme, tampered, secretOf(scheme), NOW, TOLERANCE), /does not match/);
      });

      it('refuses a request signed with another secret', () => {
        const other =
          scheme === 'standard' ? `whsec_${Buffer.from('another').toString('base64')}` : 'another';
        refused(() => verifySignature(scheme, signed(scheme), other, NOW, TOLERANCE), /does not match/);
      });

      it('refuses a request without its signature header', () => {
        const bare = request({});
        refused(() => verifySignature(scheme, bare, secretOf(scheme), NOW, TOLERANCE), /missing/);
      });

      if (scheme !== 'github')
        it('refuses a correctly signed request older or newer than the tolerance (a replay)', () => {
          const old = String(NOW / 1000 - 301);
          refused(
            () => verifySignature(scheme, signed(scheme, old), secretOf(scheme), NOW, TOLERANCE),
            /outside the tolerance/,
          );
          const ahead = String(NOW / 1000 + 301);
          refused(
            () => verifySignature(scheme, signed(scheme, ahead), secretOf(scheme), NOW, TOLERANCE),
            /outside the tolerance/,
          );
          assert.doesNotThrow(() =>
            verifySignature(
              scheme,
              signed(scheme, String(NOW / 1000 - 299)),
              secretOf(scheme),
              NOW,
              TOLERANCE,
            ),
          );
        });
    });
  }

  it('standard: any one of several signatures may match (a secret being rotated)', () => {
    const good = signed('standard');
    const headers = {
      ...good.headers,
      'webhook-signature': `v1,${'A'.repeat(43)}= ${good.headers['webhook-signature']}`,
    };
    assert.equal(
      verifySignature('standard', { ...good, headers }, STANDARD_SECRET, NOW, TOLERANCE).id,
      'msg_1',
    );
  });

  it('stripe: a v0 or malformed entry does not count as a signature', () => {
    const at = SECONDS;
    const v0 = request({ 'stripe-signature': `t=${at},v0=${hex(SECRET, `${at}.${body}`)}` });
    refused(() => verifySignature('stripe', v0, SECRET, NOW, TOLERANCE), /does not match/);
    const short = request({ 'stripe-signature': `t=${at},v1=abc` });
    refused(() => verifySignature('stripe', short, SECRET, NOW, TOLERANCE), /does not match/);
  });

  it('a timestamp that is not whole seconds is refused, not read loosely', () => {
    const good = signed('hmac-sha256');
    for (const at of ['1.8e9', '-5', '0x10', '']) {
      const headers = { ...good.headers, 'x-timestamp': at };
      refused(
        () => verifySignature('hmac-sha256', { ...good, headers }, SECRET, NOW, TOLERANCE),
        /X-Timestamp/,
      );
    }
  });

  it('github: without a delivery id, the id is a digest of the body, the same for the same body', () => {
    const good = signed('github');
    const { 'x-github-delivery': _, ...rest } = good.headers;
    const a = verifySignature('github', { ...good, headers: rest }, SECRET, NOW, TOLERANCE);
    const b = verifySignature('github', { ...good, headers: rest }, SECRET, NOW + 1000, TOLERANCE);
    assert.match(a.id, /^sha256-/);
    assert.equal(a.id, b.id);
  });
});
