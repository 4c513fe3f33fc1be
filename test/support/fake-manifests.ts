import type { Generation } from '#core/model/generation.ts';
import type { ManifestQuery, ManifestStore } from '#core/recovery/manifests.ts';
import { Faults } from './fakes.ts';

type ManifestRequests = { write: Generation; get: string; list: ManifestQuery };

/**
 * Manifests in memory, with the contract of `S3ManifestStore`: a write replaces the generation's manifest,
 * listings are newest first and honour every filter. Copies data in and out; `writes` records every write.
 */
export class FakeManifestStore implements ManifestStore {
  private readonly manifests = new Map<string, Generation>();
  readonly writes: Generation[] = [];
  readonly faults = new Faults<ManifestRequests>();

  async write(generation: Generation): Promise<void> {
    await this.faults.before('write', generation);
    this.manifests.set(generation.id, structuredClone(generation));
    this.writes.push(structuredClone(generation));
  }

  async get(generationId: string): Promise<Generation | undefined> {
    await this.faults.before('get', generationId);
    const found = this.manifests.get(generationId);
    return found && structuredClone(found);
  }

  async list(query: ManifestQuery = {}): Promise<Generation[]> {
    await this.faults.before('list', query);
    const listed = [...this.manifests.values()]
      .filter(
        (g) =>
          (!query.atOrBefore || g.scheduledAt <= new Date(query.atOrBefore).toISOString()) &&
          (!query.policy || g.policy === query.policy) &&
          (!query.targetId || g.target.id === query.targetId || g.target.members?.includes(query.targetId)) &&
          (!query.volumeId || g.snapshots.some((s) => s.volumeId === query.volumeId)),
      )
      .sort((a, b) => `${b.scheduledAt}#${b.id}`.localeCompare(`${a.scheduledAt}#${a.id}`))
      .map((g) => structuredClone(g));
    return listed.slice(0, query.limit ?? listed.length);
  }

  /** The generation's current manifest, for assertions. */
  manifest(generationId: string): Generation | undefined {
    return this.manifests.get(generationId);
  }
}
