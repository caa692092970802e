import assert from 'node:assert/strict';
import { closeRedis, Counter, createLogger, createNearCache, createRedis, redisNodeOf, waitForRedis } from '@noa/kit';
import { redisClusterNodes, startTcpProxy, uniqueSuffix } from '@noa/kit/testing';
import { createDecoder, createSigner } from 'fast-jwt';
import { profileKey } from '../index.js';
import { createProfileCache } from '../src/cache.js';
import { JWT, startHarness, type Harness } from './harness.js';

const decode = createDecoder();

describe('users service', function () {
  this.timeout(30_000);
  let h: Harness;
  before(async () => {
    h = await startHarness('users');
  });
  after(async () => h?.close());

  let n = 0;
  /** A fresh email per call so tests do not depend on each other. */
  const email = (tag: string) => `${tag}.${++n}@example.com`;

  async function signup(body: Record<string, unknown>) {
    return h.app.inject({ method: 'POST', url: '/api/auth/signup', payload: body });
  }

  describe('POST /api/auth/signup', () => {
    it('creates the user with a normalised email, a scrypt hash and an access token', async () => {
      const address = email('Ada');
      const res = await signup({ email: address.toUpperCase(), password: 'correct horse battery', displayName: 'Ada' });
      assert.equal(res.statusCode, 201);
      const body = res.json();
      assert.equal(body.user.email, address.toLowerCase());
      assert.equal(body.user.displayName, 'Ada');
      assert.equal(body.user.bio, '');
      assert.match(body.user.id, /^[0-9a-f-]{36}$/);
      assert.equal(body.tokenType, 'Bearer');
      assert.equal(body.expiresIn, 3600);
      assert.equal(body.passwordHash, undefined);
      const claims = decode(body.accessToken);
      assert.equal(claims.sub, body.user.id);
      assert.equal(claims.iss, 'noa');
      assert.equal(claims.aud, 'noa');
      assert.equal(claims.exp - claims.iat, 3600);
      const { rows } = await h.pool.query('SELECT u.password_hash, e.user_id FROM users u JOIN user_emails e ON e.user_id = u.id WHERE u.id = $1', [
        body.user.id,
      ]);
      assert.equal(rows.length, 1);
      assert.match(rows[0].password_hash, /^scrypt\$32768\$8\$1\$/);
      assert.ok(!rows[0].password_hash.includes('correct horse'));
    });

    it('answers 409 for an email already registered, in any case', async () => {
      const address = email('dup');
      assert.equal((await signup({ email: address, password: 'password-one' })).statusCode, 201);
      const again = await signup({ email: address.toUpperCase(), password: 'password-two' });
      assert.equal(again.statusCode, 409);
      assert.equal(again.json().message, 'email already registered');
      const { rows } = await h.pool.query('SELECT count(*)::int AS c FROM users WHERE email = $1', [address]);
      assert.equal(rows[0].c, 1, 'the losing sign-up left no user row behind');
    });

    it('lets exactly one of two concurrent sign-ups with the same email win', async () => {
      const address = email('race');
      const [a, b] = await Promise.all([
        signup({ email: address, password: 'racer-one-pw' }),
        signup({ email: address.toUpperCase(), password: 'racer-two-pw' }),
      ]);
      assert.deepEqual([a.statusCode, b.statusCode].sort(), [201, 409]);
      const { rows } = await h.pool.query(
        'SELECT (SELECT count(*)::int FROM users WHERE email = $1) AS users, (SELECT count(*)::int FROM user_emails WHERE email = $1) AS claims',
        [address],
      );
      assert.deepEqual(rows[0], { users: 1, claims: 1 });
    });

    it('rejects bad input with 400 naming the field', async () => {
      const cases: Array<[Record<string, unknown>, RegExp]> = [
        [{ password: 'long-enough-pw' }, /body must have required property 'email'/],
        [{ email: 'not-an-email', password: 'long-enough-pw' }, /body\/email must match format "email"/],
        [{ email: email('short'), password: 'short' }, /body\/password must NOT have fewer than 8 characters/],
        [{ email: email('type'), password: { $gt: '' } }, /body\/password must be string/],
        [{ email: ` ${email('space')}`, password: 'long-enough-pw' }, /body\/email must match format "email"/],
        [{ email: email('name'), password: 'long-enough-pw', displayName: 'x'.repeat(101) }, /body\/displayName must NOT have more than 100 characters/],
      ];
      for (const [payload, message] of cases) {
        const res = await signup(payload);
        assert.equal(res.statusCode, 400, JSON.stringify(payload));
        assert.match(res.json().message, message);
      }
    });

    it('answers 400 naming the field for text PostgreSQL cannot store (NUL, a lone surrogate), on every route, before any hash', async () => {
      const hashes = async () => {
        const text = await (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
        return Number(text.split('\n').find((l) => l.startsWith('users_password_hash_seconds_count{') && l.includes('operation="hash"'))?.split(' ').pop() ?? 0);
      };
      const before = await hashes();
      const signupNul = await signup({ email: email('nul'), password: 'long-enough-pw', displayName: 'Ada\u0000' });
      assert.equal(signupNul.statusCode, 400);
      assert.equal(signupNul.json().message, 'body.displayName: must not contain NUL (U+0000) characters or unpaired UTF-16 surrogates');
      assert.equal(await hashes(), before, 'no scrypt work for a request that cannot be stored');
      const loginNul = await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: 'a\u0000@example.com', password: 'whatever-it-is' } });
      assert.equal(loginNul.statusCode, 400);
      assert.match(loginNul.json().message, /^body\.email: must not contain NUL/);
      const user = (await signup({ email: email('surrogate'), password: 'long-enough-pw' })).json();
      const patch = await h.app.inject({ method: 'PATCH', url: '/api/users/me', headers: { 'x-user-id': user.user.id, 'content-type': 'application/json' }, payload: '{"bio":"half \\ud83d of an emoji"}' });
      assert.equal(patch.statusCode, 400);
      assert.match(patch.json().message, /^body\.bio: must not contain NUL/);
      const me = (await h.app.inject({ method: 'GET', url: '/api/users/me', headers: { 'x-user-id': user.user.id } })).json();
      assert.equal(me.bio, '', 'nothing stored');
      // A lone surrogate in a new password is refused: UTF-8 would make it U+FFFD, like any other.
      const lone = await h.app.inject({ method: 'POST', url: '/api/auth/signup', headers: { 'content-type': 'application/json' }, payload: `{"email":"${email('lone')}","password":"half \\ud83d emoji"}` });
      assert.equal(lone.statusCode, 400);
      assert.equal(lone.json().message, 'body.password: must not contain unpaired UTF-16 surrogates');
      // A password is only hashed, never stored as text: a NUL is fine in it, and it logs in.
      const odd = email('odd-password');
      assert.equal((await signup({ email: odd, password: 'nul\u0000inside' })).statusCode, 201);
      assert.equal((await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: odd, password: 'nul\u0000inside' } })).statusCode, 200);
    });

    it('answers malformed JSON with 400 and an oversized body with 413', async () => {
      const bad = await h.app.inject({
        method: 'POST',
        url: '/api/auth/signup',
        headers: { 'content-type': 'application/json' },
        payload: '{"email": "a@b.c", ',
      });
      assert.equal(bad.statusCode, 400);
      const big = await signup({ email: email('big'), password: 'x'.repeat(20_000) });
      assert.equal(big.statusCode, 413);
    });

    it('stores injection-shaped strings verbatim', async () => {
      const hostile = {
        email: `o'hara+${++n}@example.com`,
        password: "pw' OR '1'='1' --",
        displayName: "Robert'); DROP TABLE users;--",
      };
      const res = await signup(hostile);
      assert.equal(res.statusCode, 201);
      const token = res.json().accessToken as string;
      const bio = '<script>alert(1)</script> {"$ne": null} \\x00 ${jndi:ldap://x} 🙂';
      const patched = await h.app.inject({ method: 'PATCH', url: '/api/users/me', headers: { authorization: `Bearer ${token}` }, payload: { bio } });
      assert.equal(patched.statusCode, 200);
      const me = (await h.app.inject({ method: 'GET', url: '/api/users/me', headers: { authorization: `Bearer ${token}` } })).json();
      assert.equal(me.email, hostile.email);
      assert.equal(me.displayName, hostile.displayName);
      assert.equal(me.bio, bio);
      const login = await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: hostile.email, password: hostile.password } });
      assert.equal(login.statusCode, 200);
      const wrong = await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: hostile.email, password: "' OR '1'='1" } });
      assert.equal(wrong.statusCode, 401);
      const { rows } = await h.pool.query("SELECT to_regclass('users') IS NOT NULL AS present");
      assert.equal(rows[0].present, true);
    });
  });

  describe('POST /api/auth/login', () => {
    const address = `login.${Date.now()}@example.com`;
    let userId: string;
    before(async () => {
      userId = (await signup({ email: address, password: 'the-right-password' })).json().user.id;
    });

    it('returns a token for the right password', async () => {
      const res = await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: address.toUpperCase(), password: 'the-right-password' } });
      assert.equal(res.statusCode, 200);
      assert.equal(res.json().user.id, userId);
      assert.equal(decode(res.json().accessToken).sub, userId);
    });

    it('does not coerce types: an email sent as an array (or a number) is a 400, never a login as that account', async () => {
      const array = await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: [address], password: 'the-right-password' } });
      assert.equal(array.statusCode, 400);
      assert.equal(array.json().message, 'body/email must be string');
      const number = await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: address, password: 12345678 } });
      assert.equal(number.statusCode, 400);
      assert.equal(number.json().message, 'body/password must be string');
    });

    it('answers 401 with the same message for a wrong password and an unknown email', async () => {
      const wrong = await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: address, password: 'the-wrong-password' } });
      const unknown = await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: `nobody.${n}@example.com`, password: 'the-right-password' } });
      assert.equal(wrong.statusCode, 401);
      assert.equal(unknown.statusCode, 401);
      const strip = (b: Record<string, unknown>) => ({ ...b, requestId: undefined });
      assert.deepEqual(strip(wrong.json()), strip(unknown.json()));
      assert.equal(wrong.json().message, 'invalid email or password');
    });

    it('spends the same scrypt work on an unknown email as on a wrong password', async () => {
      const verifies = async () => {
        const text = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
        const line = text.split('\n').find((l) => l.startsWith('users_password_hash_seconds_count{') && l.includes('operation="verify"'));
        return Number(line?.split(' ').pop() ?? 0);
      };
      const before = await verifies();
      await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: `ghost.${++n}@example.com`, password: 'whatever-123' } });
      assert.equal(await verifies(), before + 1, 'a password verification ran for the unknown email');
    });

    it('upgrades a hash made with weaker scrypt parameters on login', async () => {
      const weakApp = h.build({ scrypt: { N: 2 ** 12, r: 8, p: 1 } });
      const old = email('weak');
      const id = (await weakApp.inject({ method: 'POST', url: '/api/auth/signup', payload: { email: old, password: 'upgrade-me-please' } })).json().user.id;
      const before = (await h.pool.query('SELECT password_hash FROM users WHERE id = $1', [id])).rows[0].password_hash as string;
      assert.match(before, /^scrypt\$4096\$/);
      const verifies = async () => {
        const text = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
        return Number(text.split('\n').find((l) => l.startsWith('users_password_hash_seconds_count{') && l.includes('operation="verify"'))?.split(' ').pop() ?? 0);
      };
      // A wrong password against the old hash costs a check at the current parameters too (as an unknown
      // email does), so its timing does not reveal an account that has not logged in since they went up.
      const verifiesBefore = await verifies();
      const wrongOld = await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: old, password: 'not-the-password' } });
      assert.equal(wrongOld.statusCode, 401);
      assert.equal(await verifies(), verifiesBefore + 2, 'the old hash and a current-cost check');
      const res = await h.app.inject({ method: 'POST', url: '/api/auth/login', payload: { email: old, password: 'upgrade-me-please' } });
      assert.equal(res.statusCode, 200);
      const after = (await h.pool.query('SELECT password_hash FROM users WHERE id = $1', [id])).rows[0].password_hash as string;
      assert.match(after, /^scrypt\$32768\$8\$1\$/);
    });
  });

  describe('GET/PATCH /api/users/me', () => {
    let id: string;
    let token: string;
    before(async () => {
      const body = (await signup({ email: email('me'), password: 'me-password-1', displayName: 'Me' })).json();
      id = body.user.id;
      token = body.accessToken;
    });

    it('identifies the caller by the gateway header or a Bearer token', async () => {
      const viaGateway = await h.app.inject({ method: 'GET', url: '/api/users/me', headers: { 'x-user-id': id } });
      assert.equal(viaGateway.statusCode, 200);
      assert.equal(viaGateway.json().id, id);
      const direct = await h.app.inject({ method: 'GET', url: '/api/users/me', headers: { authorization: `Bearer ${token}` } });
      assert.equal(direct.statusCode, 200);
      assert.equal(direct.json().displayName, 'Me');
    });

    it('answers 401 without identity, with a bad or expired token, or a malformed x-user-id', async () => {
      const expired = createSigner({ key: JWT.secret, iss: 'noa', aud: 'noa', expiresIn: 1000, clockTimestamp: Date.now() - 10_000 })({ sub: id });
      const otherKey = createSigner({ key: 'another-secret-that-is-32-characters!!', iss: 'noa', aud: 'noa', expiresIn: 60_000 })({ sub: id });
      const wrongAudience = createSigner({ key: JWT.secret, iss: 'noa', aud: 'elsewhere', expiresIn: 60_000 })({ sub: id });
      const cases: Array<[Record<string, string>, RegExp]> = [
        [{}, /authentication required/],
        [{ authorization: `Basic ${Buffer.from('a:b').toString('base64')}` }, /authentication required/],
        [{ authorization: 'Bearer not.a.jwt' }, /invalid or expired token/],
        [{ authorization: `Bearer ${expired}` }, /invalid or expired token/],
        [{ authorization: `Bearer ${otherKey}` }, /invalid or expired token/],
        [{ authorization: `Bearer ${wrongAudience}` }, /invalid or expired token/],
        [{ 'x-user-id': "1' OR '1'='1" }, /x-user-id is not a user id/],
      ];
      for (const [headers, message] of cases) {
        const res = await h.app.inject({ method: 'GET', url: '/api/users/me', headers });
        assert.equal(res.statusCode, 401, JSON.stringify(headers));
        assert.match(res.json().message, message);
      }
    });

    it('caches the profile (cache-aside with TTL) and invalidates it on update', async () => {
      await h.redis.del(profileKey(id));
      await h.app.inject({ method: 'GET', url: '/api/users/me', headers: { 'x-user-id': id } });
      const ttl = await h.redis.ttl(profileKey(id));
      assert.ok(ttl > 0 && ttl <= 60, `TTL ${ttl}`);
      // A change made behind the service's back is not seen while cached: reads come from Redis.
      await h.pool.query("UPDATE users SET display_name = 'changed in SQL' WHERE id = $1", [id]);
      const cached = await h.app.inject({ method: 'GET', url: '/api/users/me', headers: { 'x-user-id': id } });
      assert.equal(cached.json().displayName, 'Me');
      const patched = await h.app.inject({ method: 'PATCH', url: '/api/users/me', headers: { 'x-user-id': id }, payload: { displayName: 'New name' } });
      assert.equal(patched.statusCode, 200);
      assert.equal(patched.json().displayName, 'New name');
      assert.equal(await h.redis.exists(profileKey(id)), 0, 'update invalidated the cache entry');
      const fresh = await h.app.inject({ method: 'GET', url: '/api/users/me', headers: { 'x-user-id': id } });
      assert.equal(fresh.json().displayName, 'New name');
      assert.ok(Date.parse(fresh.json().updatedAt) >= Date.parse(fresh.json().createdAt));
      const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
      assert.match(metrics, /users_profile_cache_lookups_total\{result="hit",service="users"\} [1-9]/);
    });

    it('does not let a read that loaded the profile before an update cache the old one after it, however slow the read', async () => {
      await h.redis.del(profileKey(id));
      const racingReader = createProfileCache({
        redis: h.redis,
        ttlSeconds: 60,
        logger: createLogger('users-test', 'silent'),
        lookups: new Counter({ name: 'race_lookups', help: 'unused', labelNames: ['result'] as const, registers: [] }),
      });
      // What a replica's GET /me does on a miss: it takes its ticket, reads the row, then caches it.
      // This one read the row before the update below committed...
      const ticket = await racingReader.ticket(id);
      const before = (await h.app.inject({ method: 'GET', url: '/api/users/me', headers: { 'x-user-id': id } })).json();
      await h.redis.del(profileKey(id));
      const patched = await h.app.inject({ method: 'PATCH', url: '/api/users/me', headers: { 'x-user-id': id }, payload: { bio: 'after the race' } });
      assert.equal(patched.statusCode, 200);
      // ...and caches it only now, after the update's invalidation, however long after: refused.
      await new Promise((r) => setTimeout(r, 100));
      await racingReader.set(before, ticket);
      assert.equal(await h.redis.exists(profileKey(id)), 0, 'the old profile was not cached after the update');
      const me = await h.app.inject({ method: 'GET', url: '/api/users/me', headers: { 'x-user-id': id } });
      assert.equal(me.json().bio, 'after the race');
      // A read that started after the update is cached at once.
      assert.equal(JSON.parse((await h.redis.get(profileKey(id)))!).bio, 'after the race');
    });

    it('serves a cached profile as stored, and reads PostgreSQL when the entry is not this user\'s profile', async () => {
      await h.redis.del(profileKey(id));
      const first = await h.app.inject({ method: 'GET', url: '/api/users/me', headers: { 'x-user-id': id } });
      assert.equal(first.statusCode, 200);
      const stored = await h.redis.get(profileKey(id));
      assert.equal(first.body, stored, 'the miss answers exactly what it cached');
      const hit = await h.app.inject({ method: 'GET', url: '/api/users/me', headers: { 'x-user-id': id } });
      assert.equal(hit.body, stored);
      assert.equal(hit.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal(hit.json().id, id);
      // Another user's profile under this key, or a truncated entry, is never served.
      const foreign = JSON.stringify({ ...hit.json(), id: '00000000-0000-4000-8000-000000000000', email: 'someone@else.example' });
      for (const bad of [foreign, stored!.slice(0, -5), 'not json']) {
        await h.redis.set(profileKey(id), bad, 'EX', 60);
        const res = await h.app.inject({ method: 'GET', url: '/api/users/me', headers: { 'x-user-id': id } });
        assert.equal(res.statusCode, 200);
        assert.deepEqual(res.json(), hit.json(), `entry ${bad.slice(0, 30)}`);
      }
      const metrics = (await h.app.inject({ method: 'GET', url: '/metrics' })).body;
      assert.match(metrics, /users_profile_cache_lookups_total\{result="error",service="users"\} [3-9]/);
    });

    it('rejects an empty or invalid PATCH with 400', async () => {
      const empty = await h.app.inject({ method: 'PATCH', url: '/api/users/me', headers: { 'x-user-id': id }, payload: {} });
      assert.equal(empty.statusCode, 400);
      assert.match(empty.json().message, /body must NOT have fewer than 1 properties/);
      const long = await h.app.inject({ method: 'PATCH', url: '/api/users/me', headers: { 'x-user-id': id }, payload: { bio: 'x'.repeat(1001) } });
      assert.equal(long.statusCode, 400);
      assert.match(long.json().message, /body\/bio must NOT have more than 1000 characters/);
    });

    it('two replicas with near caches: hot reads skip Redis, and an update on one is seen by the other', async () => {
      const logger = createLogger('users-test', 'silent');
      const keyPrefix = (h.redis.options as { keyPrefix?: string }).keyPrefix;
      // Two replicas: their own Redis clients (same key prefix) and near caches, one database.
      const clients = [0, 1].map(() => createRedis({ clusterNodes: redisClusterNodes, logger, keyPrefix }));
      // A generous silence budget: the test asserts strict near hits, which a starved CI machine could delay.
      const nears = clients.map((redis) => createNearCache({ redis, prefix: 'user:', logger, maxSilenceMs: 2_000 }));
      try {
        await Promise.all(clients.map((redis) => waitForRedis(redis)));
        const [a, b] = clients.map((redis, i) => h.build({ redis, nearCache: nears[i] }));
        const me = (app: typeof a) => app.inject({ method: 'GET', url: '/api/users/me', headers: { 'x-user-id': id } });
        const lookups = async (app: typeof a, result: string) =>
          Number(new RegExp(`users_profile_cache_lookups_total\\{result="${result}",service="users"\\} (\\d+)`).exec((await app.inject({ method: 'GET', url: '/metrics' })).body)?.[1] ?? 0);
        const displayName = 'Near ' + uniqueSuffix();
        assert.equal((await a.inject({ method: 'PATCH', url: '/api/users/me', headers: { 'x-user-id': id }, payload: { displayName } })).statusCode, 200);
        // Warm both: once tracking is confirmed, reads are served from the process.
        for (const app of [a, b]) {
          const deadline = Date.now() + 3_000;
          while ((await lookups(app, 'near')) === 0 && Date.now() < deadline) assert.equal((await me(app)).json().displayName, displayName);
          assert.ok((await lookups(app, 'near')) > 0, 'never served from the near cache');
        }
        const redisHits = await lookups(b, 'hit');
        for (let i = 0; i < 5; i++) assert.equal((await me(b)).json().displayName, displayName);
        assert.equal(await lookups(b, 'hit'), redisHits, 'hot reads still asked Redis');
        // An update on replica a: a itself answers the new profile at once...
        const updated = 'Updated ' + uniqueSuffix();
        assert.equal((await a.inject({ method: 'PATCH', url: '/api/users/me', headers: { 'x-user-id': id }, payload: { displayName: updated } })).statusCode, 200);
        assert.equal((await me(a)).json().displayName, updated);
        // ...and b as soon as Redis's report of the invalidation arrives (a network hop; bounded here by 1 s).
        const deadline = Date.now() + 1_000;
        let seen = (await me(b)).json().displayName;
        while (seen !== updated && Date.now() < deadline) seen = (await me(b)).json().displayName;
        assert.equal(seen, updated, 'replica b kept serving the profile from before the update');
        const health = (await b.inject({ method: 'GET', url: '/health/ready' })).json();
        assert.deepEqual(health.checks.redis.nearCache, { entries: 1, nodes: { [redisNodeOf(clients[1]!, profileKey(id))]: 'tracking' } }, JSON.stringify(health));
      } finally {
        await Promise.all(nears.map((near) => near.close()));
        await Promise.all(clients.map((redis) => closeRedis(redis)));
      }
    });

    it('an update drops the near cache\'s copy before Redis drops the entry and again after, before it answers', async () => {
      const logger = createLogger('users-test', 'silent');
      const near = createNearCache({ redis: h.redis, prefix: 'user:', logger });
      // Each local delete asks Redis, on the same connection and so in order with the invalidation,
      // whether the entry still exists at that point.
      const seen: Promise<number>[] = [];
      const spied: typeof near = { ...near, delete: (key) => (seen.push(h.redis.exists(key)), near.delete(key)) };
      try {
        const app = h.build({ nearCache: spied });
        assert.equal((await app.inject({ method: 'GET', url: '/api/users/me', headers: { 'x-user-id': id } })).statusCode, 200);
        assert.equal(await h.redis.exists(profileKey(id)), 1);
        const patched = await app.inject({ method: 'PATCH', url: '/api/users/me', headers: { 'x-user-id': id }, payload: { bio: 'two deletes' } });
        assert.equal(patched.statusCode, 200);
        assert.deepEqual(await Promise.all(seen), [1, 0]);
      } finally {
        await near.close();
      }
    });

    it('answers 404 for a well-formed id that has no user', async () => {
      const res = await h.app.inject({ method: 'GET', url: '/api/users/me', headers: { 'x-user-id': '00000000-0000-4000-8000-000000000000' } });
      assert.equal(res.statusCode, 404);
    });
  });

  describe('dependencies', () => {
    it('keeps serving profiles from PostgreSQL while Redis is down, and readiness says so', async () => {
      const proxy = await startTcpProxy(6379);
      const logger = createLogger('users-test', 'silent');
      const redis = createRedis({ url: `redis://127.0.0.1:${proxy.port}`, logger, keyPrefix: `test:users:down:${Date.now()}:` });
      await waitForRedis(redis);
      const app = h.build({ redis });
      try {
        const body = (await app.inject({ method: 'POST', url: '/api/auth/signup', payload: { email: email('noredis'), password: 'redis-is-down' } })).json();
        await proxy.cut();
        const me = await app.inject({ method: 'GET', url: '/api/users/me', headers: { 'x-user-id': body.user.id } });
        assert.equal(me.statusCode, 200);
        assert.equal(me.json().id, body.user.id);
        const patched = await app.inject({ method: 'PATCH', url: '/api/users/me', headers: { 'x-user-id': body.user.id }, payload: { bio: 'still works' } });
        assert.equal(patched.statusCode, 200);
        const ready = await app.inject({ method: 'GET', url: '/health/ready' });
        assert.equal(ready.statusCode, 200);
        assert.equal(ready.json().status, 'degraded');
        assert.equal(ready.json().checks.redis.status, 'fail');
        assert.equal(ready.json().checks.postgres.status, 'ok');
        const metrics = (await app.inject({ method: 'GET', url: '/metrics' })).body;
        assert.match(metrics, /users_profile_cache_lookups_total\{result="error",service="users"\} [1-9]/);
      } finally {
        redis.disconnect();
        await proxy.close();
      }
    });
  });
});
