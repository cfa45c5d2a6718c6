import assert from 'node:assert/strict';
import { ConfigError } from '@nimbus/api';
import { type AddressKind, classifyAddress } from '../src/egress/address-class.js';
import { readEgressConfig } from '../src/egress/egress-config.js';
import {
  type EgressTarget,
  type PlatformView,
  isInternalName,
  parseEgressUrl,
  refusalOf,
  refusalText,
} from '../src/egress/egress-policy.js';
import { formatIp, parseIp } from '../src/egress/ip-address.js';

const kindOf = (text: string): AddressKind => {
  const bytes = parseIp(text);
  assert.ok(bytes, `${text} parses`);
  return classifyAddress(bytes).kind;
};

describe('egress: classifyAddress', () => {
  const table: [string, AddressKind][] = [
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['2606:4700:4700::1111', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['::1', 'loopback'],
    ['10.0.0.1', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'shared'],
    ['100.127.255.255', 'shared'],
    ['100.128.0.1', 'public'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['fd00:ec2::254', 'unique-local'],
    ['fc00::1', 'unique-local'],
    ['fec0::1', 'private'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['0.1.2.3', 'reserved'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['240.0.0.1', 'reserved'],
    ['192.0.0.170', 'reserved'],
    ['192.0.2.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['2001::1', 'reserved'], // Teredo
    ['100::1', 'reserved'],
    ['4000::1', 'reserved'], // outside 2000::/3
    // IPv6 forms that carry an IPv4 address are what that address is.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:8.8.8.8', 'public'],
    ['::127.0.0.1', 'loopback'], // IPv4-compatible
    ['::a00:1', 'private'],
    ['64:ff9b::10.0.0.1', 'private'], // NAT64
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['64:ff9b::8.8.8.8', 'public'],
    ['64:ff9b:1::1', 'reserved'],
    ['2002:7f00:1::', 'loopback'], // 6to4 of 127.0.0.1
    ['2002:a9fe:a9fe::1', 'link-local'],
    ['2002:808:808::1', 'public'],
  ];
  for (const [address, kind] of table) it(`${address} is ${kind}`, () => assert.equal(kindOf(address), kind));

  it('parses only addresses in their standard text form', () => {
    for (const bad of ['0x7f000001', '2130706433', '0177.0.0.1', '127.1', 'localhost', '1.2.3.4.5', ':::']) {
      assert.equal(parseIp(bad), undefined, bad);
    }
    assert.equal(formatIp(parseIp('::ffff:127.0.0.1') as Uint8Array), '0:0:0:0:0:ffff:7f00:1');
    assert.equal(formatIp(parseIp('1::2:3') as Uint8Array), '1:0:0:0:0:0:2:3');
  });
});

describe('egress: parseEgressUrl (what WHATWG URL makes of the header)', () => {
  const target = (text: string) => {
    const parsed = parseEgressUrl(text);
    assert.ok(!('refused' in parsed), `${text}: ${'refused' in parsed ? parsed.refused : ''}`);
    return parsed as EgressTarget;
  };
  const numeric: [string, string][] = [
    ['http://0x7f000001/x', '127.0.0.1'],
    ['http://2130706433/x', '127.0.0.1'],
    ['http://0177.0.0.1/x', '127.0.0.1'],
    ['http://127.1/x', '127.0.0.1'],
    ['http://0xa9.0xfe.0xa9.0xfe/latest/meta-data', '169.254.169.254'],
    ['http://[::ffff:127.0.0.1]:6379/', '0:0:0:0:0:ffff:7f00:1'],
    ['http://[fd00:ec2::254]/', 'fd00:ec2:0:0:0:0:0:254'],
  ];
  for (const [url, address] of numeric) {
    it(`${url} is the address ${address}`, () =>
      assert.equal(formatIp(target(url).address as Uint8Array), address));
  }

  it('gives the port, defaulting by scheme, and a lower-case name without a trailing dot', () => {
    assert.equal(target('https://Hooks.Example.COM./a').hostname, 'hooks.example.com');
    assert.equal(target('https://hooks.example.com/a').port, 443);
    assert.equal(target('http://hooks.example.com/a').port, 80);
    assert.equal(target('http://hooks.example.com:8443/a').port, 8443);
    assert.equal(target('http://hooks.example.com/a').address, undefined);
  });

  const refused: [string, RegExp, boolean][] = [
    ['http://user:pw@hooks.example.com/', /credentials/, false],
    ['http://hooks.example.com@127.0.0.1/', /credentials/, false],
    ['http://hooks.example.com:0/', /port 0/, false],
    ['ftp://hooks.example.com/', /not an http/, true],
    ['file:///etc/passwd', /not an http/, true],
    ['gopher://127.0.0.1:6379/_FLUSHALL', /not an http/, true],
    ['not a url', /not an http/, true],
    [`https://example.com/${'a'.repeat(2100)}`, /2048/, true],
  ];
  for (const [url, why, malformed] of refused) {
    it(`refuses ${url.slice(0, 40)}`, () => {
      const parsed = parseEgressUrl(url);
      assert.ok('refused' in parsed);
      assert.match(parsed.refused, why);
      assert.equal(parsed.malformed, malformed);
    });
  }
});

describe('egress: NIMBUS_EGRESS_ALLOW', () => {
  it('reads host names, wildcards, addresses, CIDRs, keywords, each with an optional port', () => {
    const { allow } = readEgressConfig({
      NIMBUS_EGRESS_ALLOW:
        ' hooks.team.svc , *.internal.example.com:8443, 10.1.0.0/16, 10.2.0.0/16:443, 192.168.1.5:9000, fd00::/8, [::1]:9000, [fd00::/8]:443, loopback ',
    });
    assert.deepEqual(
      allow.map((r) => [r.kind, r.kind === 'host' ? r.host : formatIp(r.range.bytes), r.port]),
      [
        ['host', 'hooks.team.svc', undefined],
        ['host', '*.internal.example.com', 8443],
        ['range', '10.1.0.0', undefined],
        ['range', '10.2.0.0', 443],
        ['range', '192.168.1.5', 9000],
        ['range', 'fd00:0:0:0:0:0:0:0', undefined],
        ['range', '0:0:0:0:0:0:0:1', 9000],
        ['range', 'fd00:0:0:0:0:0:0:0', 443],
        ['range', '127.0.0.0', undefined],
        ['range', '0:0:0:0:0:0:0:1', undefined],
      ],
    );
  });

  it('defaults to the fallback (nothing in a cluster), and an empty value allows nothing', () => {
    assert.deepEqual(readEgressConfig({}).allow, []);
    assert.equal(readEgressConfig({}, 'loopback').allow.length, 2);
    assert.deepEqual(readEgressConfig({ NIMBUS_EGRESS_ALLOW: '' }, 'loopback').allow, []);
    assert.deepEqual(
      readEgressConfig({ NIMBUS_EGRESS_ALLOW: 'loopback:9000' }).allow.map((r) => r.port),
      [9000, 9000],
    );
  });

  for (const bad of [
    '10.0.0.0/33',
    'http://x',
    'a b',
    'host:0',
    'host:70000',
    '1.2.3.4/8/9',
    '[::1',
    'private:x',
    '-x.com',
  ]) {
    it(`refuses "${bad}" naming the key`, () => {
      assert.throws(
        () => readEgressConfig({ NIMBUS_EGRESS_ALLOW: bad }),
        (err: unknown) => err instanceof ConfigError && err.key === 'NIMBUS_EGRESS_ALLOW',
      );
    });
  }
});

describe('egress: refusalOf (the decision for one address)', () => {
  const none: PlatformView = { endpoints: [], localPorts: new Set() };
  const local: PlatformView = {
    endpoints: [
      { host: '127.0.0.1', port: 6379 },
      { host: 'nimbus-nats.nimbus.svc', port: 4222 },
      { host: '10.96.0.1', port: 443 },
    ],
    localPorts: new Set([8080, 41001, 6379]),
  };
  const decide = (
    allow: string,
    platform: PlatformView,
    name: string | undefined,
    address: string,
    port: number,
  ) =>
    refusalOf(
      readEgressConfig({ NIMBUS_EGRESS_ALLOW: allow }),
      platform,
      name,
      parseIp(address) as Uint8Array,
      port,
    );

  const table: [string, string, PlatformView, string | undefined, string, number, RegExp | undefined][] = [
    ['public, cluster default', '', none, 'hooks.example.com', '93.184.216.34', 443, undefined],
    ['metadata IPv4', '', none, undefined, '169.254.169.254', 80, /link-local.*NIMBUS_EGRESS_ALLOW/],
    ['metadata IPv6', '', none, undefined, 'fd00:ec2::254', 80, /unique local/],
    ['loopback, cluster default', '', none, 'localhost', '127.0.0.1', 9000, /loopback/],
    ['mapped loopback', '', none, undefined, '::ffff:127.0.0.1', 9000, /127\.0\.0\.1 \(in IPv4-mapped IPv6/],
    ['a ClusterIP', '', none, 'kubernetes.default.svc', '10.96.0.1', 443, /private/],
    ['CGNAT', '', none, undefined, '100.64.1.1', 80, /carrier-grade/],
    ['local default allows loopback', 'loopback', local, undefined, '127.0.0.1', 9000, undefined],
    ['and IPv6 loopback', 'loopback', local, 'localhost', '::1', 9000, undefined],
    ['but not the gateway port', 'loopback', local, undefined, '127.0.0.1', 8080, /Nimbus itself listens/],
    ['nor a replica port through ::1', 'loopback', local, undefined, '::1', 41001, /Nimbus itself listens/],
    [
      'nor through ::ffff:127.0.0.1',
      'loopback',
      local,
      undefined,
      '::ffff:127.0.0.1',
      41001,
      /itself listens/,
    ],
    ['nor through 0.0.0.0', 'loopback', local, undefined, '0.0.0.0', 41001, /itself listens/],
    ['nor Redis', 'loopback', local, undefined, '127.0.0.2', 6379, /itself listens/],
    ['nor private when only loopback is allowed', 'loopback', local, undefined, '10.0.0.5', 9000, /private/],
    [
      '0.0.0.0 on another port is still refused',
      'loopback',
      local,
      undefined,
      '0.0.0.0',
      9000,
      /unspecified/,
    ],
    ['a component by name', 'private', local, 'nimbus-nats.nimbus.svc', '10.0.0.9', 4222, /Nimbus component/],
    ['a component by address', 'private', local, 'api.example', '10.96.0.1', 443, /Nimbus component/],
    [
      'the component name on another port',
      'private',
      local,
      'nimbus-nats.nimbus.svc',
      '10.0.0.9',
      8080,
      undefined,
    ],
    ['an allowed CIDR', '10.1.0.0/16', none, undefined, '10.1.2.3', 80, undefined],
    ['outside it', '10.1.0.0/16', none, undefined, '10.2.2.3', 80, /private/],
    ['an allowed CIDR with its port', '10.1.0.0/16:443', none, undefined, '10.1.2.3', 443, undefined],
    ['on another port', '10.1.0.0/16:443', none, undefined, '10.1.2.3', 80, /private/],
    ['an allowed name', 'hooks.team.svc', none, 'hooks.team.svc', '10.0.0.7', 80, undefined],
    ['a wildcard', '*.team.svc', none, 'a.hooks.team.svc', '10.0.0.7', 80, undefined],
    ['not the bare suffix', '*.team.svc', none, 'team.svc', '10.0.0.7', 80, /private/],
    ['a name rule never allows a bare address', 'hooks.team.svc', none, undefined, '10.0.0.7', 80, /private/],
    ['an IPv4 rule holds the mapped form', '10.1.0.0/16', none, undefined, '::ffff:10.1.0.1', 80, undefined],
    ['multicast, even when allowed', '224.0.0.0/4', none, undefined, '224.0.0.1', 80, /multicast/],
    ['unspecified, even when allowed', '0.0.0.0/0', none, undefined, '0.0.0.0', 80, /unspecified/],
  ];
  for (const [what, allow, platform, name, address, port, refused] of table) {
    it(`${what}: ${address}:${port} → ${refused === undefined ? 'allowed' : 'refused'}`, () => {
      const why = decide(allow, platform, name, address, port);
      if (refused === undefined) assert.equal(why, undefined);
      else assert.match(why === undefined ? 'allowed' : refusalText(why), refused);
    });
  }
});

describe('egress: isInternalName', () => {
  const table: [string, boolean][] = [
    ['redis', true],
    ['localhost', true],
    ['app.localhost', true],
    ['kubernetes.default.svc', true],
    ['nimbus-nats.nimbus.svc.cluster.local', true],
    ['metadata.google.internal', true],
    ['printer.local', true],
    ['hooks.example.com', false],
    ['svc.example.com', false],
  ];
  for (const [name, internal] of table)
    it(`${name} → ${internal}`, () => assert.equal(isInternalName(name), internal));
});
