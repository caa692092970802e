import assert from 'node:assert/strict';
import { DEFAULT_SCRYPT, hashPassword, needsRehash, verifyPassword } from '../index.js';

describe('password hashing (scrypt)', () => {
  it('stores the parameters and a per-user salt with the hash, and verifies', async () => {
    const a = await hashPassword('correct horse battery staple');
    const b = await hashPassword('correct horse battery staple');
    assert.match(a, /^scrypt\$32768\$8\$1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    assert.notEqual(a, b, 'fresh salt per hash');
    assert.equal(await verifyPassword('correct horse battery staple', a), true);
    assert.equal(await verifyPassword('correct horse battery stapl', a), false);
    assert.equal(await verifyPassword('', a), false);
  });

  it('verifies with the stored parameters, and flags weaker ones for rehash', async () => {
    const weak = await hashPassword('pässword-ü', { N: 2 ** 12, r: 8, p: 1 });
    assert.equal(await verifyPassword('pässword-ü', weak), true);
    assert.equal(needsRehash(weak), true);
    assert.equal(needsRehash(await hashPassword('x', DEFAULT_SCRYPT)), false);
  });

  it('rejects malformed or tampered hashes without throwing', async () => {
    const good = await hashPassword('secret-password', { N: 2 ** 12, r: 8, p: 1 });
    const parts = good.split('$');
    const tampered = [...parts.slice(0, 5), Buffer.alloc(32, 1).toString('base64url')].join('$');
    for (const stored of ['', 'plain-text', 'bcrypt$2$x$y$z$w', tampered, 'scrypt$0$8$1$AAAA$AAAA']) {
      assert.equal(await verifyPassword('secret-password', stored), false, stored);
    }
  });
});
