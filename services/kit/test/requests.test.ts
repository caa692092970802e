import * as assert from 'node:assert/strict';
import type { FastifyRequest } from 'fastify';
import { assertStorableText, describeIssue, findUnstorableText, forwardedUserId, HttpError, parseInput, USER_ID_HEADER, z } from '../index.js';

const request = (headers: Record<string, unknown>) => ({ headers }) as unknown as FastifyRequest;

describe('request helpers', () => {
  it('takes the caller from the header the gateway sets, and refuses anything else with 401', () => {
    const id = '0f8fad5b-d9cb-469f-a165-70867728950e';
    assert.equal(USER_ID_HEADER, 'x-user-id');
    assert.equal(forwardedUserId(request({ 'x-user-id': id })), id);
    // Upper-case UUIDs are the same id: lower-cased, so cache keys built from it match the database's.
    assert.equal(forwardedUserId(request({ 'x-user-id': id.toUpperCase() })), id);
    for (const headers of [{}, { 'x-user-id': 'admin' }, { 'x-user-id': [id, id] }, { 'x-user-id': "1' OR '1'='1" }]) {
      assert.throws(() => forwardedUserId(request(headers)), (err: unknown) =>
        err instanceof HttpError && err.statusCode === 401 && err.message === 'missing or invalid x-user-id header');
    }
  });

  it('names the field, the value and the rule of the first invalid input', () => {
    const schema = z.strictObject({ steps: z.array(z.strictObject({ kind: z.enum(['http', 'email']) })), limit: z.number().max(100) });
    const input = { steps: [{ kind: 'http' }, { kind: 'Bad Kind' }], limit: 5 };
    const result = schema.safeParse(input);
    assert.ok(!result.success);
    assert.match(describeIssue('body', result.error, input), /^body\.steps\.1\.kind \("Bad Kind"\): /);
    // An object-valued field is not echoed back, only its path.
    const missing = schema.safeParse({ limit: 5 });
    assert.ok(!missing.success);
    assert.match(describeIssue('body', missing.error, { limit: 5 }), /^body\.steps: /);
  });

  it('finds text PostgreSQL cannot store at any depth, in values and keys, naming its path', () => {
    assert.equal(findUnstorableText({ name: 'ok', steps: [{ config: { a: ['fine', 'emoji \u{1F642} is paired'] } }] }, 'body'), undefined);
    assert.equal(findUnstorableText({ name: 'a\u0000b' }, 'body'), 'body.name');
    assert.equal(findUnstorableText({ steps: [{}, { config: { deep: ['x', 'half \uD83D'] } }] }, 'body'), 'body.steps.1.config.deep.1');
    assert.equal(findUnstorableText({ steps: [{ config: { 'k\u0000': 1 } }] }, 'body'), 'body.steps.0.config (key "k\\u0000")');
    assert.equal(findUnstorableText('\uDC00 trailing half', 'query'), 'query');
    assert.equal(findUnstorableText(42, 'body'), undefined);
    assert.throws(() => assertStorableText({ bio: 'x\u0000' }, 'body'), (err: unknown) =>
      err instanceof HttpError && err.statusCode === 400 && err.message === 'body.bio: must not contain NUL (U+0000) characters or unpaired UTF-16 surrogates');
    // parseInput checks it before the schema, so every zod-validated input gets the 400.
    assert.throws(() => parseInput(z.strictObject({ name: z.string() }), { name: 'nul\u0000' }, 'body'), (err: unknown) =>
      err instanceof HttpError && err.statusCode === 400 && err.message.startsWith('body.name: must not contain NUL'));
  });

  it('returns parsed input, or throws 400 with the reason', () => {
    const schema = z.strictObject({ limit: z.coerce.number().int().max(100).default(20) });
    assert.deepEqual(parseInput(schema, undefined, 'query'), { limit: 20 });
    assert.deepEqual(parseInput(schema, { limit: '7' }, 'query'), { limit: 7 });
    assert.throws(() => parseInput(schema, { limit: '500' }, 'query'), (err: unknown) =>
      err instanceof HttpError && err.statusCode === 400 && /^query\.limit \("500"\): /.test(err.message));
  });
});
