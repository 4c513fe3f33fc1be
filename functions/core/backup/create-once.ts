import { CreateOutcomeUnknownError } from '#core/model/errors.ts';
import type { Generation } from '#core/model/generation.ts';
import type { Log } from '#core/model/ports.ts';
import { type AdoptionDeps, scopeOf, screenImages, screenSnapshots } from './adoption.ts';
import type { CreatedSnapshot } from './ports.ts';
import type { PlannedTarget } from './selection.ts';

/** Create calls made for one member before its failure is final: the first, and at most two after lost answers. */
export const CREATE_ATTEMPTS = 3;

/**
 * Makes a create call that takes no idempotency token at most once in effect. When its outcome is unknown (a lost
 * answer: a timeout, a 5xx, a reset), what it may have made is looked for first, by the generation's tag and then
 * the adoption checks, and only when nothing is found is the call made again.
 */
export async function createOnce<T>(
  operation: string,
  create: () => Promise<T>,
  find: () => Promise<T | undefined>,
  log: Log,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await create();
    } catch (error) {
      if (!(error instanceof CreateOutcomeUnknownError) || attempt >= CREATE_ATTEMPTS) throw error;
      const found = await find();
      log.warn('create outcome unknown', { operation, attempt, found: found !== undefined, error });
      if (found !== undefined) return found;
    }
  }
}

/** The member's snapshots that the generation's creates made, as EC2 lists them; undefined when there are none. */
export async function snapshotsMade(
  generation: Generation,
  member: PlannedTarget,
  deps: AdoptionDeps,
): Promise<CreatedSnapshot[] | undefined> {
  const found = await deps.snapshots.snapshotsOfGenerations([generation.id]);
  const { accepted } = screenSnapshots(found, await scopeOf(generation, member, deps));
  const made = accepted.map(({ snapshotId, volumeId, state }) => ({ snapshotId, volumeId, state }));
  return made.length > 0 ? made : undefined;
}

/** The AMI of the member's instance that the generation's creates made; undefined when there is none. */
export async function imageMade(
  generation: Generation,
  member: PlannedTarget,
  deps: AdoptionDeps,
): Promise<string | undefined> {
  if (!deps.images) return undefined;
  const found = await deps.images.imagesOfGeneration(generation.id);
  const { accepted } = screenImages(found, await scopeOf(generation, member, deps));
  return accepted[0]?.imageId;
}
