import assert from 'node:assert/strict';
import { JsonLogger } from '@nimbus/api/log';
import { ManualClock } from '@nimbus/testkit';

function capture(level: 'debug' | 'info' | 'warn' | 'error' = 'debug') {
  const lines: string[] = [];
  const logger = new JsonLogger(
    (line) => lines.push(line),
    new ManualClock(Date.UTC(2025, 0, 2, 3, 4, 5)),
    level,
    {
      function: 'resize',
    },
  );
  return { lines, logger, records: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('JsonLogger', () => {
  it('writes one JSON line with level, time, msg, bindings and fields in that order', () => {
    const { lines, logger } = capture();
    logger.child({ invocationId: 'c1' }).info('hello', { size: 3 });
    assert.equal(
      lines[0],
      '{"level":"info","time":"2025-01-02T03:04:05.000Z","msg":"hello","function":"resize","invocationId":"c1","size":3}',
    );
  });

  it('drops lines below the configured level', () => {
    const { records, logger } = capture('warn');
    logger.debug('d');
    logger.info('i');
    logger.warn('w');
    logger.error('e');
    assert.deepEqual(
      records().map((r) => r.level),
      ['warn', 'error'],
    );
  });

  it('does not let fields overwrite level, time or msg', () => {
    const { records, logger } = capture();
    logger.info('real', { level: 'error', msg: 'forged', time: 'never' });
    const [record] = records();
    assert.equal(record?.level, 'info');
    assert.equal(record?.msg, 'real');
    assert.equal(record?.time, '2025-01-02T03:04:05.000Z');
  });

  it('serialises errors with their stack and cause', () => {
    const { records, logger } = capture();
    logger.error('failed', { error: new Error('outer', { cause: new Error('inner') }) });
    const error = records()[0]?.error as Record<string, unknown>;
    assert.equal(error.message, 'outer');
    assert.match(String(error.stack), /outer/);
    assert.equal((error.cause as Record<string, unknown>).message, 'inner');
  });

  it('keeps the line when fields cannot be serialised', () => {
    const { records, logger } = capture();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    logger.warn('odd', { circular, big: 1n });
    const [record] = records();
    assert.equal(record?.msg, 'odd');
    assert.match(String(record?.logError), /not serializable/);
  });
});
