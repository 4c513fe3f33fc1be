import { createHmac, timingSafeEqual } from 'node:crypto';

/** The environment variable that names the mark key's parameter; the stack sets it on every Lambda that needs it. */
export const MARK_KEY_ENV = 'SNAPKEEPER_MARK_KEY_PARAMETER';

/**
 * The snapkeeper mark: proof that snapkeeper itself created a snapshot, AMI or DR copy. Tags prove nothing (any
 * principal with `ec2:CreateTags` can write `snapkeeper:managed=true`), so every create also writes `snapkeeper:mark`,
 * an HMAC-SHA256 keyed by a secret only the stack's roles can read, over facts fixed when the resource is created.
 * Before any delete the mark is recomputed from EC2's own facts and the catalog record, and a resource whose mark
 * does not match is held, never deleted. The design and its limits: docs/security.md.
 */

/**
 * What a mark is computed over: the generation and what the create call named, never anything a tag says.
 * - `volume`: `CreateSnapshot` of one volume; EC2 reports the snapshot's `VolumeId` itself.
 * - `instance`: `CreateSnapshots` of an instance; one tag specification covers every snapshot of the set, so the
 *   mark names the instance, and each snapshot's `VolumeId` is checked against the catalog separately.
 * - `image`: `CreateImage` of an instance; the AMI and the snapshots behind it share the mark.
 * - `copy`: `CopySnapshot` or `CopyImage` into `region`, of the source snapshot or AMI `sourceId`.
 */
export type MarkFacts =
  | { kind: 'volume'; generationId: string; volumeId: string }
  | { kind: 'instance'; generationId: string; instanceId: string }
  | { kind: 'image'; generationId: string; instanceId: string }
  | { kind: 'copy'; generationId: string; sourceId: string; region: string };

/** Where the mark key comes from (`SsmMarkKey`): read once, then cached for the life of the process. */
export interface MarkKey {
  /** The secret's bytes; fails with an error naming where the key was looked for when it cannot be read. */
  secret(): Promise<Uint8Array>;
}

/** A key shorter than this is refused: an HMAC key should carry at least as much entropy as its output. */
export const MARK_KEY_MIN_BYTES = 32;

/** The version prefix of every mark: a later scheme can be told apart from this one. */
const VERSION = 'v1';

/** The mark tag's value for these facts: `v1:` and the base64url HMAC (46 characters, well under EC2's 256). */
export function markOf(secret: Uint8Array, facts: MarkFacts): string {
  // JSON of a fixed field order: unambiguous whatever the ids contain, and the kind separates the domains.
  const subject =
    facts.kind === 'volume'
      ? [facts.volumeId]
      : facts.kind === 'copy'
        ? [facts.sourceId, facts.region]
        : [facts.instanceId];
  const message = JSON.stringify(['snapkeeper-mark', VERSION, facts.kind, facts.generationId, ...subject]);
  return `${VERSION}:${createHmac('sha256', secret).update(message).digest('base64url')}`;
}

/** Whether `value` (a resource's mark tag, possibly absent) is the mark of these facts; compared in constant time. */
export function isMarkOf(secret: Uint8Array, facts: MarkFacts, value: string | undefined): boolean {
  if (value === undefined) return false;
  const expected = Buffer.from(markOf(secret, facts));
  const actual = Buffer.from(value);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
