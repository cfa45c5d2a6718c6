import assert from 'node:assert/strict';
import { AUTH_CLAIMS_HEADER } from '@nimbus/api/gateway-headers';
import { buildEvent } from '../src/invoke/event.js';
import { inPython } from './support/in-python.js';

const CLAIMS = { sub: 'ada', aud: ['orders'], scope: 'orders:read', name: 'Ad\u00e5 \u2713', n: 3 };

/** Headers as a replica receives them, with `claims` (raw text) in the gateway's claims header when given. */
const headersWith = (claims?: string) => ({
  'content-type': 'text/plain',
  'x-trace': 'keep',
  ...(claims === undefined ? {} : { [AUTH_CLAIMS_HEADER]: claims }),
});

/** The gateway's claims header becomes event.auth, in runtime-node and runtime-python alike. */
describe('event.auth from the gateway claims header', () => {
  const cases = [
    {
      name: 'compact JSON, non-ASCII escaped',
      raw: JSON.stringify(CLAIMS).replace(
        /[\u007f-\uffff]/g,
        (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
      ),
      auth: CLAIMS,
    },
    { name: 'not JSON', raw: 'sub=ada', auth: undefined },
    { name: 'a JSON array, not an object', raw: '["ada"]', auth: undefined },
    { name: 'absent', raw: undefined, auth: undefined },
  ];

  for (const c of cases) {
    it(`runtime-node: ${c.name}`, () => {
      const event = buildEvent({
        method: 'POST',
        url: '/x',
        headers: headersWith(c.raw),
        rawBody: Buffer.from('hi'),
      });
      assert.deepEqual(event.auth, c.auth);
      assert.equal(AUTH_CLAIMS_HEADER in event.headers, false, 'the raw header is not left in event.headers');
      assert.equal(event.headers['x-trace'], 'keep');
    });
  }

  it('runtime-python reads the same header the same way, and leaves it out of event.headers', () => {
    const results = inPython(
      'from nimbus_runtime.invoke.event import build_event',
      "(lambda e: [e.auth, sorted(e.headers)])(build_event('POST', '/x', item, b'hi'))",
      cases.map((c) => headersWith(c.raw)),
    ) as [unknown, string[]][];
    results.forEach(([auth, names], i) => {
      assert.deepEqual(auth ?? undefined, cases[i]?.auth, cases[i]?.name);
      assert.deepEqual(names, ['content-type', 'x-trace'], cases[i]?.name);
    });
  });
});
