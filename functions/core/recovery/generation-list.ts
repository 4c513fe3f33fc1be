import type { CatalogReader } from '#core/model/catalog.ts';
import type { Generation } from '#core/model/generation.ts';

/** The catalog reads a listing needs; the DynamoDB catalog and the manifest catalog both provide them. */
export type GenerationLookup = Pick<CatalogReader, 'byVolume' | 'byTarget' | 'byPolicy'>;

/** Which generations to list: those of one volume, of one instance, or of the given policies. */
export interface GenerationListing {
  volume?: string;
  instance?: string;
  /** Only this policy's generations (with a volume or an instance too, the others are dropped). */
  policy?: string;
  /** The policies listed when neither a volume nor an instance is given. */
  policies: readonly string[];
  limit: number;
}

/** Generations newest first, at most `limit` of them. */
export async function listGenerations(
  catalog: GenerationLookup,
  listing: GenerationListing,
): Promise<Generation[]> {
  const query = { limit: listing.limit };
  let generations: Generation[];
  if (listing.volume) generations = await catalog.byVolume(listing.volume, query);
  else if (listing.instance) generations = await catalog.byTarget(listing.instance, query);
  else {
    // One page per policy, merged: the newest `limit` across them are the newest overall.
    const lists = await Promise.all(listing.policies.map((p) => catalog.byPolicy(p, query)));
    generations = lists
      .flat()
      .sort((a, b) => b.scheduledAt.localeCompare(a.scheduledAt))
      .slice(0, listing.limit);
  }
  return listing.policy ? generations.filter((g) => g.policy === listing.policy) : generations;
}

/** A generation as `generations` shows it, in the table and in `--json` alike: a pruned one's state is `deleted`. */
export type ListedGeneration = Omit<Generation, 'state'> & { state: Generation['state'] | 'deleted' };

/** The record as listed: `state` says `deleted` once its snapshots are pruned (`deletedAt`), the rest unchanged. */
export function asListed(generation: Generation): ListedGeneration {
  return generation.deletedAt ? { ...generation, state: 'deleted' } : generation;
}
