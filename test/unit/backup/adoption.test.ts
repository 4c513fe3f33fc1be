import { describe, expect, it } from 'vitest';
import { CLAIM_LEASE_MS, CLOCK_SKEW_MS } from '#core/backup/claim.ts';
import type { Policy } from '#core/config/config.ts';
import { type Generation, generationId, type Target } from '#core/model/generation.ts';
import { markOf } from '#core/model/mark.ts';
import { TAG } from '#core/model/tags.ts';
import { TEST_MARK_SECRET } from '../../support/fake-mark-key.ts';
import { anInstance, aVolume, aWorld, policyTag, SCHEDULED_AT } from '../../support/fakes.ts';
import { freezing } from '../../support/freezing.ts';

// One adoption path for runs and reconcile, and what it refuses: snapshots that only carry a generation's tags.

const MINUTE = 60_000;
const AZ = 'us-east-1a';

/** A volume tagged for `daily` and the pending claim a run that died right after claiming left for it. */
async function deadClaim(
  world: ReturnType<typeof aWorld>,
  volumeTags = { Name: 'ledger', Team: 'payments' },
) {
  const volume = aVolume({ tags: { ...policyTag('daily'), ...volumeTags } });
  world.ec2.add(volume);
  const target: Target = { kind: 'volume', id: volume.volumeId };
  const claim: Generation = {
    id: generationId('daily', 'daily', SCHEDULED_AT, target),
    policy: 'daily',
    schedule: 'daily',
    target,
    scheduledAt: SCHEDULED_AT,
    claimedAt: world.clock.now().toISOString(),
    state: 'pending',
    consistency: 'crash',
    snapshots: [],
    copies: [],
  };
  await world.catalog.claim(claim);
  // The tags the run's CreateSnapshot writes, its mark among them; `forgeable` is what anyone allowed to tag can write.
  const forgeable = { [TAG.managed]: 'true', [TAG.generation]: claim.id };
  const mark = markOf(TEST_MARK_SECRET, {
    kind: 'volume',
    generationId: claim.id,
    volumeId: volume.volumeId,
  });
  const ours = { ...forgeable, [TAG.mark]: mark };
  return { volume, claim, ours, forgeable };
}

describe('adoption by reconcile', () => {
  it('records the volume tags of what it adopts, so a restore of that generation carries them', async () => {
    const world = aWorld();
    const { volume, claim, ours } = await deadClaim(world);
    // The run made its snapshot a second after claiming, then died before recording it.
    world.clock.advance(1_000);
    const made = world.ec2.forgeSnapshot({ volumeId: volume.volumeId, tags: ours });
    world.clock.advance(CLAIM_LEASE_MS + MINUTE);

    expect((await world.reconcile()).completed).toEqual([claim.id]);
    expect((await world.catalog.get(claim.id))?.snapshots).toEqual([
      expect.objectContaining({
        snapshotId: made,
        volumeTags: expect.objectContaining({ Team: 'payments' }),
      }),
    ]);
    await world.restore({ volumeId: volume.volumeId, availabilityZone: AZ });
    const [created] = world.volumes.created.values();
    expect(created).toMatchObject({
      snapshotId: made,
      tags: expect.objectContaining({ Name: 'ledger', Team: 'payments' }),
    });
  });

  it('refuses snapshots of another account, of another volume, and from outside the claim window', async () => {
    const world = aWorld();
    const { volume, claim, ours } = await deadClaim(world);
    const at = (offsetMs: number) => new Date(world.clock.now().getTime() + offsetMs).toISOString();
    const forged = [
      world.ec2.forgeSnapshot({ volumeId: volume.volumeId, tags: ours, ownerId: '210987654321' }),
      world.ec2.forgeSnapshot({ volumeId: aVolume().volumeId, tags: ours }),
      world.ec2.forgeSnapshot({
        volumeId: volume.volumeId,
        tags: ours,
        startedAt: at(-CLOCK_SKEW_MS - 1_000),
      }),
      world.ec2.forgeSnapshot({
        volumeId: volume.volumeId,
        tags: ours,
        startedAt: at(CLAIM_LEASE_MS + CLOCK_SKEW_MS + 1_000),
      }),
    ];
    world.clock.advance(CLAIM_LEASE_MS + 2 * CLOCK_SKEW_MS);

    const pass = await world.reconcile();
    expect(pass.failed).toEqual([{ generationId: claim.id, failure: expect.stringContaining('stopped') }]);
    const generation = await world.catalog.get(claim.id);
    expect(generation?.snapshots).toEqual([]);
    expect(generation?.notes).toEqual([
      expect.stringMatching(/owned by account 210987654321, not this account/),
      expect.stringMatching(/a snapshot of vol-\w+, which is not a volume of/),
      expect.stringMatching(/started .* outside the claim's window/),
      expect.stringMatching(/started .* outside the claim's window/),
    ]);
    const warned = world.log.entries.filter((e) => e.message === 'adoption candidate rejected');
    expect(warned.map((e) => e.data?.resourceId)).toEqual(forged);
  });

  it("holds a snapshot of the target's own volume, inside the window, that lacks the generation's mark", async () => {
    const world = aWorld();
    const { volume, claim, forgeable } = await deadClaim(world);
    world.clock.advance(1_000);
    // Everything EC2 says fits the claim; only the mark cannot be forged: none, or one copied from another
    // generation's genuine snapshot of the same volume.
    const otherGeneration = generationId('daily', 'daily', '2026-11-20T03:00:00.000Z', claim.target);
    const copied = markOf(TEST_MARK_SECRET, {
      kind: 'volume',
      generationId: otherGeneration,
      volumeId: volume.volumeId,
    });
    const forged = [
      world.ec2.forgeSnapshot({ volumeId: volume.volumeId, tags: forgeable }),
      world.ec2.forgeSnapshot({ volumeId: volume.volumeId, tags: { ...forgeable, [TAG.mark]: copied } }),
    ];
    world.clock.advance(CLAIM_LEASE_MS + MINUTE);

    const pass = await world.reconcile();
    expect(pass.completed).toEqual([]);
    expect(pass.failed).toEqual([{ generationId: claim.id, failure: expect.stringContaining('stopped') }]);
    const generation = await world.catalog.get(claim.id);
    expect(generation?.snapshots).toEqual([]);
    expect(generation?.notes).toEqual([
      expect.stringMatching(new RegExp(`not adopted: ${forged[0]} .*without a snapkeeper:mark tag`)),
      expect.stringMatching(new RegExp(`not adopted: ${forged[1]} .*not by a create of ${claim.id}`)),
    ]);
    // Held, not deleted: both are still in EC2 for their owner to deal with.
    expect(forged.every((id) => world.ec2.snapshots.has(id))).toBe(true);
  });

  it('takes a snapshot EC2 stamped a little before the claim, within the clock-skew allowance', async () => {
    const world = aWorld();
    const { volume, claim, ours } = await deadClaim(world);
    const startedAt = new Date(world.clock.now().getTime() - CLOCK_SKEW_MS + 1_000).toISOString();
    const made = world.ec2.forgeSnapshot({ volumeId: volume.volumeId, tags: ours, startedAt });
    world.clock.advance(CLAIM_LEASE_MS + MINUTE);
    await world.reconcile();
    expect((await world.catalog.get(claim.id))?.snapshots.map((s) => s.snapshotId)).toEqual([made]);
  });
});

describe('adoption by a redelivered run', () => {
  it('does not adopt an AMI that EC2 says was made from another instance', async () => {
    const schedule = { name: 'daily', expression: 'cron(0 3 * * ? *)', keep: { count: 3 }, ami: true };
    const world = freezing({ policy: { schedules: [schedule] } as unknown as Partial<Policy> });
    // The boot volume alone, so the failed run left nothing of its own behind.
    const [web, other] = [anInstance({ tags: policyTag('daily'), volumes: 1 }), anInstance({})];
    world.add(web, other);
    world.images.faults.failNext('createImage', { error: new Error('InternalError') });
    expect((await world.run()).results[0]).toMatchObject({ outcome: 'failed' });
    const id = world.catalog.all()[0]?.id ?? '';
    // An AMI of another instance, tagged as the generation's and as made from the target.
    const forged = await world.images.createImage({
      instanceId: other.instanceId,
      name: 'not ours',
      description: '',
      tags: { [TAG.managed]: 'true', [TAG.generation]: id, [TAG.sourceInstance]: web.instanceId },
      excludeDeviceNames: [],
    });

    const [retry] = (await world.run()).results;
    expect(retry?.outcome).toBe('created');
    const generation = await world.catalog.get(id);
    expect(generation?.amiId).toBeDefined();
    expect(generation?.amiId).not.toBe(forged);
    expect(generation?.snapshots.map((s) => s.volumeId)).not.toContain(other.bootVolumeId);
    expect(generation?.notes).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`not adopted: ${forged} .*made from ${other.instanceId}`)),
      ]),
    );
  });
});
