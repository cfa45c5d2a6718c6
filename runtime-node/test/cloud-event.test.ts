import assert from 'node:assert/strict';
import { BadRequestError } from '../src/http/http-errors.js';
import { readCloudEvent } from '../src/invoke/cloud-event.js';

const binaryHeaders = {
  'ce-specversion': '1.0',
  'ce-id': 'evt-1',
  'ce-source': '/orders',
  'ce-type': 'order.created',
};

function rejectsWith(fn: () => unknown, message: RegExp, attribute?: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof BadRequestError, 'a 400 error');
    assert.match(error.message, message);
    if (attribute !== undefined) assert.equal(error.details.attribute, attribute);
    return true;
  });
}

describe('readCloudEvent', () => {
  it('is undefined for an ordinary request', () => {
    assert.equal(readCloudEvent({ 'content-type': 'application/json' }, { a: 1 }), undefined);
  });

  describe('binary mode', () => {
    it('reads attributes and extensions from ce-* headers and the body as data', () => {
      const event = readCloudEvent(
        {
          ...binaryHeaders,
          'ce-subject': 'order/1',
          'ce-traceid': 'a%20b',
          'content-type': 'application/json',
        },
        { total: 5 },
      );
      assert.deepEqual(event, {
        specversion: '1.0',
        id: 'evt-1',
        source: '/orders',
        type: 'order.created',
        subject: 'order/1',
        traceid: 'a b',
        datacontenttype: 'application/json',
        data: { total: 5 },
      });
    });

    it('omits data and datacontenttype when there are none', () => {
      const event = readCloudEvent(binaryHeaders, undefined);
      assert.deepEqual(event, { specversion: '1.0', id: 'evt-1', source: '/orders', type: 'order.created' });
    });

    for (const attribute of ['specversion', 'id', 'source', 'type']) {
      it(`names a missing ${attribute}`, () => {
        const headers: Record<string, string> = { ...binaryHeaders };
        delete headers[`ce-${attribute}`];
        rejectsWith(
          () => readCloudEvent(headers, undefined),
          new RegExp(`missing required attribute "${attribute}" \\(header ce-${attribute}\\)`),
          attribute,
        );
      });
    }
  });

  describe('structured mode', () => {
    const envelope = { specversion: '1.0', id: 'e2', source: 'urn:test', type: 't', data: { x: 1 } };
    const headers = { 'content-type': 'application/cloudevents+json; charset=utf-8' };

    it('takes the JSON envelope as the event', () => {
      assert.deepEqual(readCloudEvent(headers, envelope), envelope);
    });

    it('decodes data_base64 into a Buffer', () => {
      const { data: _, ...rest } = envelope;
      const event = readCloudEvent(headers, {
        ...rest,
        data_base64: Buffer.from('bytes').toString('base64'),
      });
      assert.ok(Buffer.isBuffer(event?.data));
      assert.equal((event?.data as Buffer).toString(), 'bytes');
      assert.equal(event !== undefined && 'data_base64' in event, false);
    });

    for (const attribute of ['specversion', 'id', 'source', 'type']) {
      it(`names a missing ${attribute}`, () => {
        const partial: Record<string, unknown> = { ...envelope };
        delete partial[attribute];
        rejectsWith(
          () => readCloudEvent(headers, partial),
          new RegExp(`missing required attribute "${attribute}"$`),
          attribute,
        );
      });
    }

    it('refuses an empty required attribute', () => {
      rejectsWith(
        () => readCloudEvent(headers, { ...envelope, id: '' }),
        /missing required attribute "id"/,
        'id',
      );
    });

    it('refuses a body that is not an object', () => {
      rejectsWith(() => readCloudEvent(headers, [envelope]), /must be a JSON object/);
      rejectsWith(() => readCloudEvent(headers, undefined), /must be a JSON object/);
    });

    it('refuses both data and data_base64', () => {
      rejectsWith(
        () => readCloudEvent(headers, { ...envelope, data_base64: 'AA==' }),
        /both "data" and "data_base64"/,
      );
    });

    it('refuses data_base64 that is not base64', () => {
      const { data: _, ...rest } = envelope;
      rejectsWith(
        () => readCloudEvent(headers, { ...rest, data_base64: 'not base64!' }),
        /"data_base64" must be a base64/,
      );
    });
  });
});
