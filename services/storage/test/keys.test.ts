import assert from 'node:assert/strict';
import { objectKey, safeName } from '../src/keys';

describe('object keys', () => {
  it('organises keys as <type>/<yyyy-mm-dd>/<uuid>-<safe-name> in UTC', () => {
    const id = '00000000-0000-4000-8000-000000000001';
    assert.equal(objectKey('avatars', 'me.png', new Date('2026-02-03T23:59:59-05:00'), id), `avatars/2026-02-04/${id}-me.png`);
  });

  it('reduces file names to safe characters', () => {
    const table: [string, string][] = [
      ['Résumé final.pdf', 'Resume-final.pdf'],
      ['../../etc/passwd', 'passwd'],
      ['C:\\Users\\me\\photo.JPG', 'photo.JPG'],
      ['.env', 'env'],
      ['what?*<>|.txt', 'what.txt'],
      ['日本語', 'file'],
      ['a'.repeat(300), 'a'.repeat(100)],
    ];
    for (const [input, expected] of table) assert.equal(safeName(input), expected, input);
  });
});
