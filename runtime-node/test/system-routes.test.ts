import 'reflect-metadata';
import assert from 'node:assert/strict';
import { Readiness } from '../src/http/readiness.js';
import { isSystemPath, systemReply } from '../src/http/system-routes.js';

describe('system routes', () => {
  const sources = (status: Readiness['report'] extends () => infer R ? R : never) => ({
    report: () => status,
    renderMetrics: () => 'm 1\n',
  });

  it('reserves /_ and everything under /_/', () => {
    assert.ok(isSystemPath('/_/health'));
    assert.ok(isSystemPath('/_/anything'));
    assert.ok(isSystemPath('/_'));
    assert.ok(!isSystemPath('/_health'));
    assert.ok(!isSystemPath('/a/_/b'));
  });

  it('answers health and metrics', () => {
    assert.deepEqual(systemReply('GET', '/_/health', sources({ status: 'loading' })), {
      kind: 'json',
      statusCode: 200,
      body: { status: 'ok' },
    });
    const metrics = systemReply('GET', '/_/metrics', sources({ status: 'ready' }));
    assert.equal(metrics.kind === 'text' && metrics.contentType, 'text/plain; version=0.0.4; charset=utf-8');
  });

  const readiness: [Parameters<typeof sources>[0], number][] = [
    [{ status: 'ready' }, 200],
    [{ status: 'loading' }, 503],
    [{ status: 'failed', reason: 'SyntaxError' }, 503],
    [{ status: 'draining' }, 503],
    [{ status: 'unspecialised', reason: 'generic pool replica: not specialised' }, 503],
  ];
  for (const [report, status] of readiness) {
    it(`answers /_/ready ${status} when ${report.status}`, () => {
      assert.deepEqual(systemReply('GET', '/_/ready', sources(report)), {
        kind: 'json',
        statusCode: status,
        body: report,
      });
    });
  }

  it('answers 404 for an unknown reserved path, whatever the method, and 405 for other methods', () => {
    assert.equal(systemReply('GET', '/_/nope', sources({ status: 'ready' })).statusCode, 404);
    assert.equal(systemReply('POST', '/_/specialise', sources({ status: 'ready' })).statusCode, 404);
    assert.equal(systemReply('POST', '/_/health', sources({ status: 'ready' })).statusCode, 405);
  });
});

describe('Readiness', () => {
  it('follows the handler load state until draining, which wins', () => {
    const slot = { state: { status: 'loading' } as const } as { state: { status: string; reason?: string } };
    const readiness = new Readiness(slot as never);
    assert.deepEqual(readiness.report(), { status: 'loading' });
    slot.state = { status: 'failed', reason: 'bad' };
    assert.deepEqual(readiness.report(), { status: 'failed', reason: 'bad' });
    slot.state = { status: 'ready' };
    assert.deepEqual(readiness.report(), { status: 'ready' });
    readiness.markDraining();
    assert.deepEqual(readiness.report(), { status: 'draining' });
  });
});
