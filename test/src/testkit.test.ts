import assert from 'node:assert/strict';
import { freePorts } from '@nimbus/testkit';

describe('testkit', () => {
  it('hands out ports that differ from each other', async () => {
    // Released one by one, the kernel gave etcd and kube-apiserver the same port once.
    const ports = await freePorts(50);
    assert.equal(new Set(ports).size, 50);
    for (const port of ports) assert.ok(port > 0 && port < 65536);
  });
});
