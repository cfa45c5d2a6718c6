import assert from 'node:assert/strict';
import {
  FUNCTION_SECRET_LABEL,
  type SecretMounts,
  type SecretSeen,
  decideSecretMounts,
  secretsVerdict,
} from '../src/secrets/secret-opt-in.js';

const optedIn: SecretSeen = { labels: { [FUNCTION_SECRET_LABEL]: 'true' } };

describe('decideSecretMounts: only Secrets that opt in are mounted', () => {
  const cases: {
    name: string;
    names: string[];
    seen: [string, SecretSeen][];
    mounted: string[];
    refused: [string, string][];
  }[] = [
    { name: 'nothing named', names: [], seen: [], mounted: [], refused: [] },
    { name: 'one labelled "true"', names: ['db'], seen: [['db', optedIn]], mounted: ['db'], refused: [] },
    {
      name: 'one without the label',
      names: ['db'],
      seen: [['db', { labels: { team: 'a' } }]],
      mounted: [],
      refused: [['spec.secrets[0]', 'SecretNotOptedIn']],
    },
    {
      name: 'the label with another value',
      names: ['db'],
      seen: [['db', { labels: { [FUNCTION_SECRET_LABEL]: 'yes' } }]],
      mounted: [],
      refused: [['spec.secrets[0]', 'SecretNotOptedIn']],
    },
    {
      name: 'a missing one, after one that opted in',
      names: ['db', 'gone'],
      seen: [
        ['db', optedIn],
        ['gone', undefined],
      ],
      mounted: ['db'],
      refused: [['spec.secrets[1]', 'SecretNotFound']],
    },
    {
      name: "another function's state login (the controller's, never labelled)",
      names: ['other-state', 'db'],
      seen: [
        ['other-state', { labels: {} }],
        ['db', optedIn],
      ],
      mounted: ['db'],
      refused: [['spec.secrets[0]', 'SecretNotOptedIn']],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const out = decideSecretMounts(c.names, new Map(c.seen));
      assert.deepEqual(out.mounted, c.mounted);
      assert.deepEqual(
        out.refused.map((r) => [r.field, r.reason]),
        c.refused,
      );
      for (const r of out.refused) assert.ok(r.message.startsWith(`${r.field}: `), r.message);
    });
  }
});

describe('secretsVerdict: the SecretsMounted condition', () => {
  it('is absent without spec.secrets, True when all mount, False naming each refused entry', () => {
    const none: SecretMounts = { mounted: [], refused: [] };
    assert.equal(secretsVerdict([], none), undefined);
    assert.equal(secretsVerdict(['db'], { mounted: ['db'], refused: [] })?.status, 'True');
    const refused = decideSecretMounts(
      ['a', 'b'],
      new Map<string, SecretSeen>([
        ['a', { labels: {} }],
        ['b', undefined],
      ]),
    );
    const verdict = secretsVerdict(['a', 'b'], refused);
    assert.equal(verdict?.status, 'False');
    assert.equal(verdict?.reason, 'SecretsRefused');
    assert.match(
      verdict?.message ?? '',
      /spec\.secrets\[0\]: Secret a does not opt in.*; spec\.secrets\[1\]: no Secret b/,
    );
  });
});
