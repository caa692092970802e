import assert from 'node:assert/strict';
import { isPrivateAddress, isPrivateHost } from '../index.js';

describe('user-supplied URL targets (webhooks)', () => {
  it('flags loopback, private and cluster-internal hosts, and names the cluster DNS search path completes', () => {
    for (const host of ['localhost', 'LOCALHOST.', '127.0.0.1', '10.1.2.3', '172.16.0.1', '172.31.255.255', '192.168.1.1', '169.254.169.254', '[::1]', 'fd00::1', '[::ffff:127.0.0.1]', 'users.noa.svc.cluster.local', 'noa-redis-0.noa-redis-headless.noa-data.svc.cluster.local.', 'users', 'kubernetes', 'metadata.google.internal']) {
      assert.equal(isPrivateHost(host), true, host);
    }
    for (const host of ['example.com', 'hooks.example.com.', '8.8.8.8', '172.32.0.1', '2001:db8::1']) {
      assert.equal(isPrivateHost(host), false, host);
    }
  });

  it('flags every address range a webhook must not reach, judging IPv4-mapped IPv6 by its IPv4 address', () => {
    const blocked = [
      '0.0.0.0', '10.0.0.1', '10.255.255.255', '100.64.0.1', '100.127.255.254', '127.0.0.1', '127.8.9.10', '169.254.169.254', '172.16.0.1', '172.31.255.255',
      '192.0.0.8', '192.168.0.1', '198.18.0.1', '198.19.255.255', '224.0.0.1', '239.255.255.250', '240.0.0.1', '255.255.255.255',
      '::', '::1', '::ffff:10.0.0.1', '::FFFF:169.254.169.254', '64:ff9b::a00:1', 'fc00::1', 'fd12:3456::1', 'fe80::1', 'ff02::1',
    ];
    const allowed = ['1.1.1.1', '8.8.8.8', '100.63.255.255', '100.128.0.0', '172.15.255.255', '172.32.0.0', '192.0.1.1', '198.17.255.255', '198.20.0.0', '223.255.255.255', '::ffff:8.8.8.8', '2606:4700:4700::1111', '2001:db8::1'];
    for (const address of blocked) assert.equal(isPrivateAddress(address), true, address);
    for (const address of allowed) assert.equal(isPrivateAddress(address), false, address);
    assert.equal(isPrivateAddress('example.com'), false, 'not an address');
  });
});
