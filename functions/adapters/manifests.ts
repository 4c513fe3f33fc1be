import {
  GetObjectCommand,
  NoSuchKey,
  PutObjectCommand,
  paginateListObjectsV2,
  type S3Client,
} from '@aws-sdk/client-s3';
import { z } from 'zod';
import { AwsOperationError, ManifestObjectError } from '#core/model/errors.ts';
import type { Generation } from '#core/model/generation.ts';
import { GenerationSchema, schemaProblems } from '#core/model/generation-schema.ts';
import type { ManifestQuery, ManifestStore } from '#core/recovery/manifests.ts';

/**
 * Generation manifests in one S3 bucket, in the manifest (DR) Region. This file is the only code that knows
 * the key layout.
 *
 * | object | key | body |
 * |---|---|---|
 * | manifest (one a generation) | `generations/<id>.json` | `{ version: 1, generation }`, the catalog record |
 * | pointer by source volume | `by-volume/<volume id>/<newest-first>_<id>` | empty |
 * | pointer by target | `by-target/<instance, volume or group id>/<newest-first>_<id>` (members too) | empty |
 * | pointer by policy | `by-policy/<policy>/<newest-first>_<id>` | empty |
 *
 * `<newest-first>` is `9999999999999 - scheduledAt in epoch ms`, 13 digits: S3 lists keys in ascending order
 * only, so inverting the time makes a prefix listing newest first, and "at or before T" a `StartAfter`. A
 * restore's listing (one volume, newest first) therefore reads one short page of pointers and a few manifests,
 * whatever the length of the history; only `rebuild-catalog` lists every manifest. Path segments are
 * URI-encoded, so a group or tag-derived id never adds a `/`. Every put asks for SSE-S3 encryption, whatever
 * the bucket's default. Pointers never change, so each write re-puts the same keys: writing twice is harmless.
 */
/** The key prefixes of the layout above, under which everything in the bucket lives; IAM scopes writers to them. */
export const MANIFEST_PREFIXES = {
  manifests: 'generations/',
  byVolume: 'by-volume/',
  byTarget: 'by-target/',
  byPolicy: 'by-policy/',
} as const;

/** A manifest's body, as `write` puts it. */
const ManifestSchema = z.object({ version: z.literal(1), generation: GenerationSchema });

export class S3ManifestStore implements ManifestStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async write(generation: Generation): Promise<void> {
    const body = JSON.stringify({ version: 1, generation });
    // A deleted generation's pointers were put by its earlier writes; only its manifest changes.
    const pointers = generation.deletedAt ? [] : pointerKeys(generation);
    try {
      await this.put(manifestKey(generation.id), body, 'application/json');
      await Promise.all(pointers.map((key) => this.put(key, '', 'text/plain')));
    } catch (error) {
      throw manifestError('write manifest', error);
    }
  }

  async get(generationId: string): Promise<Generation | undefined> {
    try {
      const response = await this.s3.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: manifestKey(generationId) }),
      );
      return parseManifest(manifestKey(generationId), (await response.Body?.transformToString()) ?? '');
    } catch (error) {
      if (error instanceof NoSuchKey) return undefined;
      throw manifestError('read manifest', error);
    }
  }

  async list(query: ManifestQuery = {}): Promise<Generation[]> {
    const [kind, value] = query.volumeId
      ? ([MANIFEST_PREFIXES.byVolume, query.volumeId] as const)
      : query.targetId
        ? ([MANIFEST_PREFIXES.byTarget, query.targetId] as const)
        : query.policy
          ? ([MANIFEST_PREFIXES.byPolicy, query.policy] as const)
          : ([undefined, undefined] as const);
    if (!kind) return this.listAll(query);

    const prefix = `${kind}${segment(value)}/`;
    const found: Generation[] = [];
    const pages = paginateListObjectsV2(
      { client: this.s3, pageSize: Math.min(Math.max((query.limit ?? 100) * 2, 10), 1000) },
      {
        Bucket: this.bucket,
        Prefix: prefix,
        // Keys at or after this sort at or before `atOrBefore` in time (see the layout above).
        ...(query.atOrBefore ? { StartAfter: `${prefix}${newestFirst(query.atOrBefore)}` } : {}),
      },
    );
    try {
      for await (const page of pages) {
        // `<13 digits>_<id>`
        const ids = (page.Contents ?? []).map((o) =>
          decodeURIComponent(String(o.Key).slice(prefix.length + 14)),
        );
        const generations = await this.getMany(ids);
        found.push(...generations.filter((g) => matches(g, query)));
        if (query.limit && found.length >= query.limit) break;
      }
    } catch (error) {
      throw manifestError('list manifests', error);
    }
    return newestFirstOrder(found).slice(0, query.limit ?? found.length);
  }

  /** Every manifest: a listing of the whole `generations/` prefix, for rebuilds and unfiltered reads. */
  private async listAll(query: ManifestQuery): Promise<Generation[]> {
    const ids: string[] = [];
    try {
      const pages = paginateListObjectsV2(
        { client: this.s3, pageSize: 1000 },
        { Bucket: this.bucket, Prefix: MANIFEST_PREFIXES.manifests },
      );
      for await (const page of pages) {
        for (const object of page.Contents ?? []) {
          const key = String(object.Key);
          ids.push(decodeURIComponent(key.slice(MANIFEST_PREFIXES.manifests.length, -'.json'.length)));
        }
      }
    } catch (error) {
      throw manifestError('list manifests', error);
    }
    const all = newestFirstOrder((await this.getMany(ids)).filter((g) => matches(g, query)));
    return all.slice(0, query.limit ?? all.length);
  }

  /** Manifests by id, 16 reads at a time, in the order asked; an id without a manifest is left out. */
  private async getMany(ids: readonly string[]): Promise<Generation[]> {
    const found: (Generation | undefined)[] = [];
    for (let i = 0; i < ids.length; i += 16) {
      found.push(...(await Promise.all(ids.slice(i, i + 16).map((id) => this.get(id)))));
    }
    return found.filter((g): g is Generation => g !== undefined);
  }

  private async put(key: string, body: string, contentType: string): Promise<void> {
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: body,
        // Stated, because the SDK cannot tell the length of an empty pointer body and warns on every put.
        ContentLength: Buffer.byteLength(body),
        ContentType: contentType,
        ServerSideEncryption: 'AES256',
      }),
    );
  }
}

/** The generation a manifest holds, parsed at the boundary: a malformed one fails naming its key and its problems. */
function parseManifest(key: string, text: string): Generation {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    throw new ManifestObjectError(key, `not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  const parsed = ManifestSchema.safeParse(body);
  if (!parsed.success) throw new ManifestObjectError(key, schemaProblems(parsed.error, 'the manifest'));
  return parsed.data.generation;
}

const LATEST_MS = 9_999_999_999_999;

function newestFirst(iso: string): string {
  return String(LATEST_MS - Date.parse(iso)).padStart(13, '0');
}

function segment(value: string): string {
  return encodeURIComponent(value);
}

function manifestKey(generationId: string): string {
  return `${MANIFEST_PREFIXES.manifests}${segment(generationId)}.json`;
}

function pointerKeys(generation: Generation): string[] {
  const suffix = `${newestFirst(generation.scheduledAt)}_${segment(generation.id)}`;
  const targets = [generation.target.id, ...(generation.target.members ?? [])];
  const volumes = [...new Set(generation.snapshots.map((s) => s.volumeId))];
  return [
    ...targets.map((id) => `${MANIFEST_PREFIXES.byTarget}${segment(id)}/${suffix}`),
    `${MANIFEST_PREFIXES.byPolicy}${segment(generation.policy)}/${suffix}`,
    ...volumes.map((id) => `${MANIFEST_PREFIXES.byVolume}${segment(id)}/${suffix}`),
  ];
}

/** Whether a generation passes every filter of the query, not only the one that chose the listing. */
function matches(generation: Generation, query: ManifestQuery): boolean {
  if (query.atOrBefore && generation.scheduledAt > new Date(query.atOrBefore).toISOString()) return false;
  if (query.policy && generation.policy !== query.policy) return false;
  if (
    query.targetId &&
    generation.target.id !== query.targetId &&
    !(generation.target.members ?? []).includes(query.targetId)
  )
    return false;
  if (query.volumeId && !generation.snapshots.some((s) => s.volumeId === query.volumeId)) return false;
  return true;
}

/** The catalog's order: `scheduledAt`, then id, both descending. */
function newestFirstOrder(generations: Generation[]): Generation[] {
  return generations.sort((a, b) => `${b.scheduledAt}#${b.id}`.localeCompare(`${a.scheduledAt}#${a.id}`));
}

function manifestError(operation: string, error: unknown): AwsOperationError {
  if (error instanceof AwsOperationError) return error;
  const detail = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new AwsOperationError(`manifests: ${operation}`, detail, { cause: error });
}
