import assert from 'node:assert/strict';
import { decodeEntities, listError, parseListPage } from '../src/s3/list-page.js';
import { canonicalQuery } from '../src/s3/signed-requests.js';

const page = (inner: string) =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${inner}</ListBucketResult>`;
const object = (key: string, etag = '&#34;abc&#34;') =>
  `<Contents><Key>${key}</Key><LastModified>2026-12-07T23:57:01.933Z</LastModified><ETag>${etag}</ETag><Size>42</Size><Owner><ID>o</ID></Owner><StorageClass>STANDARD</StorageClass></Contents>`;

describe('parseListPage: a ListObjectsV2 answer read for the poller', () => {
  it('reads each object and the continuation, flags before the objects (versitygw) or after (AWS)', () => {
    const before = parseListPage(
      page(
        `<Name>b</Name><KeyCount>2</KeyCount><IsTruncated>true</IsTruncated><NextContinuationToken>t/1+=</NextContinuationToken>${object('a')}${object('b')}`,
      ),
    );
    assert.deepEqual(before.objects, [
      { key: 'a', size: '42', etag: '"abc"', lastModified: '2026-12-07T23:57:01.933Z' },
      { key: 'b', size: '42', etag: '"abc"', lastModified: '2026-12-07T23:57:01.933Z' },
    ]);
    assert.equal(before.next, 't/1+=');
    const after = parseListPage(
      page(
        `${object('a', '&quot;x&quot;')}<Name>b</Name><IsTruncated>true</IsTruncated><NextContinuationToken>n</NextContinuationToken>`,
      ),
    );
    assert.deepEqual([after.objects[0]?.etag, after.next], ['"x"', 'n']);
    assert.equal(parseListPage(page(`<IsTruncated>false</IsTruncated>${object('a')}`)).next, undefined);
    assert.deepEqual(
      parseListPage(page('<IsTruncated>false</IsTruncated><KeyCount>0</KeyCount>')).objects,
      [],
    );
  });

  it('decodes every entity a key can carry, named and numeric, once', () => {
    const key = 'odd/a&amp;b &lt;c&gt; &quot;d&quot; &apos;e&#39; tab&#x9;nl&#xA; &#128512; &amp;lt;';
    assert.equal(parseListPage(page(object(key))).objects[0]?.key, 'odd/a&b <c> "d" \'e\' tab\tnl\n 😀 &lt;');
    assert.equal(decodeEntities('plain/key.txt'), 'plain/key.txt');
    assert.equal(decodeEntities('&bogus; &#x110000;'), '&bogus; &#x110000;', 'what is not an entity stays');
  });

  it('throws on what is not a whole listing, rather than read it as an empty bucket', () => {
    assert.throws(() => parseListPage('<html>proxy error</html>'), /something else/);
    assert.throws(() => parseListPage(page('<Contents><Key>a</Key>')), /ends inside an object/);
    assert.throws(() => parseListPage(page('<Contents><Size>1</Size></Contents>')), /without a Key/);
    assert.throws(() => parseListPage(page('<IsTruncated>true</IsTruncated>')), /no continuation token/);
  });

  it('reads an error answer as the SDK would: status and S3 code', () => {
    const err = listError(
      404,
      '<Error><Code>NoSuchBucket</Code><Message>The specified bucket does not exist</Message></Error>',
    );
    assert.deepEqual(
      [err.$metadata.httpStatusCode, err.name, err.message],
      [404, 'NoSuchBucket', 'The specified bucket does not exist'],
    );
    assert.equal(listError(502, 'Bad Gateway').name, 'HTTP 502');
  });

  it('signs and sends the query sorted, with every reserved byte and slash encoded', () => {
    assert.equal(
      canonicalQuery({ prefix: 'in/a b&c', 'list-type': '2', 'continuation-token': 'x+y=' }),
      'continuation-token=x%2By%3D&list-type=2&prefix=in%2Fa%20b%26c',
    );
  });
});
