import { describe, expect, it } from 'vitest';
import { FREEZE_ID_PATTERN } from '#adapters/ssm.ts';
import { thawOutcome } from '#core/backup/freeze-report.ts';
import { anInstance, policyTag } from '../../support/fakes.ts';
import { freezeReport, freezing } from '../../support/freezing.ts';

// Each freeze has its own id, its thaw carries it, and the thaw's finding decides what is recorded.

const thawReport = (outcome: string) => `SNAPKEEPER_THAWED ${outcome}\nSNAPKEEPER_THAW_OK\n`;

/** A filesystem-mode world whose thaws report `outcome`. */
function thawing(outcome: string | undefined) {
  const world = freezing();
  const web = anInstance({ tags: policyTag('daily') });
  world.add(web);
  world.agent.outcome = (command) => ({
    state: 'succeeded',
    output:
      command.action === 'freeze'
        ? freezeReport(...web.volumeIds)
        : outcome === undefined
          ? 'SNAPKEEPER_THAW_OK\n'
          : thawReport(outcome),
  });
  return world;
}

describe('the freeze id', () => {
  it('is the same on a freeze and its thaw, names the generation, and is one the document accepts', async () => {
    const world = thawing('held');
    const [result] = (await world.run()).results;
    const [freeze, thaw] = world.agent.sent;
    expect(freeze?.freezeId).toMatch(new RegExp(`^${result?.generationId}-[0-9a-z]+$`));
    expect(thaw?.freezeId).toBe(freeze?.freezeId);
    expect(freeze?.freezeId).toMatch(FREEZE_ID_PATTERN);
  });

  it('differs for a retake of the same generation, so an old thaw cannot end the new freeze', async () => {
    const world = thawing('held');
    world.ec2.faults.failNext('snapshotInstance', { error: new Error('InternalError') });
    await world.run();
    world.clock.advance(60_000);
    await world.run();
    const freezes = world.agent.sent.filter((c) => c.action === 'freeze').map((c) => c.freezeId);
    expect(freezes).toHaveLength(2);
    expect(new Set(freezes).size).toBe(2);
  });
});

describe('what the thaw found', () => {
  it('keeps filesystem when the thaw found its freeze still held', async () => {
    const world = thawing('held');
    const [result] = (await world.run()).results;
    expect(result).toMatchObject({ outcome: 'created', consistency: 'filesystem' });
    expect(world.catalog.all()[0]?.notes).toBeUndefined();
  });

  it('records crash, with a note, when the watchdog had already ended the freeze', async () => {
    const world = thawing('watchdog');
    const [result] = (await world.run()).results;
    expect(result).toMatchObject({ outcome: 'created', consistency: 'crash' });
    const [generation] = world.catalog.all();
    expect(generation?.snapshots.map((s) => s.consistency)).toEqual(['crash', 'crash']);
    expect(generation?.notes).toEqual([
      expect.stringMatching(/its freeze had ended before the thaw came \(the watchdog thawed it\)/),
    ]);
  });

  it('records crash when the thaw found no freeze held at all (its state gone, e.g. a reboot)', async () => {
    const world = thawing('none');
    const [result] = (await world.run()).results;
    expect(result).toMatchObject({ consistency: 'crash' });
    expect(world.catalog.all()[0]?.notes?.[0]).toMatch(/no freeze held/);
  });

  it('keeps the timing rule alone when the thaw reports nothing (a document that does not say)', async () => {
    const world = thawing(undefined);
    const [result] = (await world.run()).results;
    expect(result).toMatchObject({ consistency: 'filesystem' });
  });

  it('reads only the three findings the document prints', () => {
    expect(thawOutcome(thawReport('held'))).toBe('held');
    expect(thawOutcome(thawReport('watchdog'))).toBe('watchdog');
    expect(thawOutcome(thawReport('none'))).toBe('none');
    expect(thawOutcome(thawReport('maybe'))).toBeUndefined();
    expect(thawOutcome('SNAPKEEPER_THAW_OK')).toBeUndefined();
  });
});
