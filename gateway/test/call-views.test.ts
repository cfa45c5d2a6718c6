import assert from 'node:assert/strict';
import type { CallRecord, DeadLetter } from '@nimbus/store';
import {
  adminCallView,
  adminDeadLetterView,
  cancelTokenMatches,
  hashCancelToken,
  maskUrl,
  newCancelToken,
  publicCallView,
} from '../src/async/call-views.js';

describe('call views: what of a call each caller sees', () => {
  const record: CallRecord = {
    id: 'c1',
    namespace: 'default',
    function: 'echo',
    status: 'queued',
    attempts: 0,
    createdAt: 1,
    timings: {},
    callbackUrl: 'https://user:pw@hooks.example/done?sig=secret&id=7#frag',
    cancelTokenHash: 'a'.repeat(64),
  };

  const masked: [string, string, string][] = [
    ['query values', 'https://h.example/p?sig=abc&x=1', 'https://h.example/p?sig=***&x=***'],
    ['userinfo', 'http://u:p@h.example:8080/p', 'http://***@h.example:8080/p'],
    ['a user without a password', 'http://token@h.example/', 'http://***@h.example/'],
    ['a fragment (dropped)', 'https://h.example/p#secret', 'https://h.example/p'],
    ['nothing secret', 'https://h.example/p', 'https://h.example/p'],
    ['an unparsable URL', 'not a url', '***'],
  ];
  for (const [what, url, expected] of masked) {
    it(`masks ${what}`, () => assert.equal(maskUrl(url), expected));
  }

  it('shows a public caller neither the callback URL nor the token hash', () => {
    const view = publicCallView({ ...record, callbackError: 'refused to connect: hooks.example: …' });
    assert.equal('callbackUrl' in view, false);
    assert.equal('callbackError' in view, false);
    assert.equal('cancelTokenHash' in view, false);
    assert.equal(view.status, 'queued');
  });

  it('shows an admin where the callback goes, with its secrets masked, and never the hash', () => {
    const view = adminCallView(record);
    assert.equal(view.callbackUrl, 'https://***@hooks.example/done?sig=***&id=***');
    assert.equal('cancelTokenHash' in view, false);
  });

  it("masks a dead letter's callback pseudo-header and leaves the rest", () => {
    const letter: DeadLetter = {
      id: 'c1',
      namespace: 'default',
      function: 'echo',
      reason: 'max-deliver',
      lastError: 'x',
      attempts: 3,
      failedAt: 1,
      request: {
        headers: { ':callback-url': 'https://h.example/?k=v', ':path': '/' },
        body: '',
        encoding: 'utf8',
      },
    };
    const view = adminDeadLetterView(letter);
    assert.deepEqual(view.request.headers, { ':callback-url': 'https://h.example/?k=***', ':path': '/' });
    assert.equal(
      letter.request.headers[':callback-url'],
      'https://h.example/?k=v',
      'the entry is not changed',
    );
  });

  it('masks credential headers an entry stored before they were dropped still has', () => {
    const letter: DeadLetter = {
      id: 'old',
      namespace: 'default',
      function: 'echo',
      reason: 'max-deliver',
      lastError: 'x',
      attempts: 3,
      failedAt: 1,
      request: {
        headers: {
          Authorization: 'Bearer s3cret',
          cookie: 'sid=s3cret',
          'x-api-key': 's3cret',
          accept: '*/*',
        },
        body: '',
        encoding: 'utf8',
      },
    };
    assert.deepEqual(adminDeadLetterView(letter).request.headers, {
      Authorization: '***',
      cookie: '***',
      'x-api-key': '***',
      accept: '*/*',
    });
    const finished: CallRecord = {
      ...record,
      status: 'succeeded',
      result: {
        statusCode: 200,
        headers: { 'set-cookie': 'sid=s3cret', 'content-type': 'text/plain' },
        body: 'ok',
        encoding: 'utf8',
        truncated: false,
        size: 2,
      },
    };
    assert.deepEqual(adminCallView(finished).result?.headers, {
      'set-cookie': '***',
      'content-type': 'text/plain',
    });
    assert.equal(finished.result?.headers['set-cookie'], 'sid=s3cret', 'the record itself is left alone');
  });

  it('matches a cancel token only against its own hash', () => {
    const token = newCancelToken();
    assert.match(token, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(newCancelToken(), token);
    assert.equal(cancelTokenMatches(token, hashCancelToken(token)), true);
    assert.equal(cancelTokenMatches(newCancelToken(), hashCancelToken(token)), false);
    assert.equal(cancelTokenMatches(token, undefined), false);
    assert.equal(cancelTokenMatches(token, 'abc'), false);
  });

  it('never hands out the same cancel token twice, across refills of its pool', () => {
    const tokens = Array.from({ length: 1000 }, () => newCancelToken());
    for (const t of tokens) assert.match(t, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(new Set(tokens).size, tokens.length);
  });
});
