import { describe, expect, it } from 'vitest';
import { isMarkOf, type MarkFacts, markOf } from '#core/model/mark.ts';
import { TEST_MARK_SECRET } from '../../support/fake-mark-key.ts';

const volume: MarkFacts = { kind: 'volume', generationId: 'gen-1', volumeId: 'vol-1' };
const otherKey = new TextEncoder().encode('another mark key, also of 32 bytes or more');

describe('the snapkeeper mark', () => {
  it('is the same for the same facts and key, and reads as a versioned base64url HMAC-SHA256', () => {
    const mark = markOf(TEST_MARK_SECRET, volume);
    expect(markOf(TEST_MARK_SECRET, { ...volume })).toBe(mark);
    expect(mark).toMatch(/^v1:[A-Za-z0-9_-]{43}$/);
  });

  it.each<[string, MarkFacts]>([
    ['another generation', { ...volume, generationId: 'gen-2' }],
    ['another volume', { ...volume, volumeId: 'vol-2' }],
    [
      'an instance set of an instance with the same id',
      { kind: 'instance', generationId: 'gen-1', instanceId: 'vol-1' },
    ],
    ['an AMI rather than an instance set', { kind: 'image', generationId: 'gen-1', instanceId: 'vol-1' }],
    [
      'a copy of the same source in another Region',
      { kind: 'copy', generationId: 'gen-1', sourceId: 'vol-1', region: 'b' },
    ],
  ])('differs for %s', (_, facts) => {
    expect(markOf(TEST_MARK_SECRET, facts)).not.toBe(markOf(TEST_MARK_SECRET, volume));
  });

  it('cannot be told apart by moving text between fields', () => {
    const a: MarkFacts = { kind: 'copy', generationId: 'gen-1', sourceId: 'snap-1', region: 'us-east-1' };
    const b: MarkFacts = { kind: 'copy', generationId: 'gen-1', sourceId: 'snap-1","us-east-1', region: '' };
    expect(markOf(TEST_MARK_SECRET, a)).not.toBe(markOf(TEST_MARK_SECRET, b));
  });

  it('depends on the key: the same facts under another key make another mark', () => {
    expect(markOf(otherKey, volume)).not.toBe(markOf(TEST_MARK_SECRET, volume));
    expect(isMarkOf(otherKey, volume, markOf(TEST_MARK_SECRET, volume))).toBe(false);
  });

  it('verifies only the exact mark of the facts: absent, empty, truncated, extended or re-cased marks fail', () => {
    const mark = markOf(TEST_MARK_SECRET, volume);
    expect(isMarkOf(TEST_MARK_SECRET, volume, mark)).toBe(true);
    for (const forged of [
      undefined,
      '',
      'true',
      mark.slice(0, -1),
      `${mark}=`,
      mark.toUpperCase(),
      `v2:${mark.slice(3)}`,
    ]) {
      expect(isMarkOf(TEST_MARK_SECRET, volume, forged)).toBe(false);
    }
  });
});
