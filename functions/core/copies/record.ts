import type { CopiedImage, CopiedSnapshot, CopyRecord, Generation } from '#core/model/generation.ts';

/**
 * The copy record's bookkeeping for the copy worker (`copy.ts`): what one step learned, the record it writes,
 * how it merges with a record another step wrote meanwhile, and the copy slots the record holds. No I/O.
 */

/** What one step learns and changes about a copy; `result` is the new record, or the same one if nothing changed. */
export class Progress {
  snapshots: CopiedSnapshot[];
  images: CopiedImage[];
  failure?: string;
  startedAt?: string;
  changed = false;

  constructor(
    readonly generationId: string,
    readonly copy: CopyRecord,
    readonly now: Date,
  ) {
    this.snapshots = copy.snapshots.map((s) => ({ ...s }));
    this.images = copy.images.map((i) => ({ ...i }));
    this.startedAt = copy.startedAt;
    // A copy refused or lost in an earlier step stays failed: it is final once its other copies finish.
    this.failure = copy.failure;
  }

  /** What is still to start: AMI copies first (they bring their own snapshots), then the other snapshots. */
  waiting(): Array<{ image: CopiedImage } | { snapshot: CopiedSnapshot }> {
    return [
      ...this.images.filter((i) => i.state === 'waiting').map((image) => ({ image })),
      ...this.snapshots.filter((s) => s.state === 'waiting' && !s.viaImage).map((snapshot) => ({ snapshot })),
    ];
  }

  started() {
    this.startedAt ??= this.now.toISOString();
    this.changed = true;
  }

  result(generation: Generation): CopyRecord {
    if (!this.changed) return this.copy;
    const snapshotIds = this.snapshots.flatMap((s) => (s.snapshotId ? [s.snapshotId] : []));
    const failed = this.failure !== undefined;
    const complete =
      this.snapshots.every((s) => s.state === 'completed') &&
      this.images.every((i) => i.state === 'available');
    const inFlight =
      this.snapshots.some((s) => s.state === 'pending' && !s.viaImage) ||
      this.images.some((i) => i.state === 'pending');
    // A failed copy stays pending until its other copies in flight finish, so their slots are freed as they do.
    const state: CopyRecord['state'] =
      failed && !inFlight ? 'failed' : complete ? 'completed' : this.startedAt ? 'pending' : 'queued';
    const record: CopyRecord = {
      ...this.copy,
      state,
      snapshotIds,
      snapshots: this.snapshots,
      images: this.images,
      ...(this.startedAt ? { startedAt: this.startedAt } : {}),
      ...(this.failure ? { failure: this.failure } : {}),
    };
    if (state === 'completed') {
      record.completedAt = this.now.toISOString();
      const taken = Date.parse(generation.takenAt ?? generation.scheduledAt);
      record.lagSeconds = Math.max(0, Math.round((this.now.getTime() - taken) / 1000));
    }
    return record;
  }
}

/** The slots of an AMI copy: one per snapshot behind the AMI, at least one. */
export function imageSlots(generationId: string, copy: CopyRecord, sourceImageId: string): string[] {
  const behind = Math.max(1, copy.snapshots.filter((s) => s.viaImage === sourceImageId).length);
  return Array.from({ length: behind }, (_, i) =>
    slotKey(generationId, i === 0 ? sourceImageId : `${sourceImageId}/${i}`),
  );
}

export function allSlots(generationId: string, copy: CopyRecord): string[] {
  return [
    ...copy.snapshots.filter((s) => !s.viaImage).map((s) => slotKey(generationId, s.sourceSnapshotId)),
    ...copy.images.flatMap((i) => imageSlots(generationId, copy, i.sourceImageId)),
  ];
}

/** The slot keys of every copy of this record that is no longer in flight. */
export function finishedSlots(generationId: string, copy: CopyRecord): string[] {
  const finished = (state: string) => state !== 'pending' && state !== 'waiting';
  return [
    ...copy.snapshots
      .filter((s) => !s.viaImage && finished(s.state))
      .map((s) => slotKey(generationId, s.sourceSnapshotId)),
    ...copy.images
      .filter((i) => finished(i.state))
      .flatMap((i) => imageSlots(generationId, copy, i.sourceImageId)),
  ];
}

/**
 * This step's record, keeping any copy another step started meanwhile (a duplicate message): a started copy is
 * never forgotten, so it is never left in the Region unrecorded.
 */
export function mergeStarted(current: CopyRecord | undefined, next: CopyRecord): CopyRecord {
  if (!current) return next;
  const snapshots = next.snapshots.map((s, i) => {
    const theirs = current.snapshots[i];
    return s.state === 'waiting' && theirs?.snapshotId ? theirs : s;
  });
  const images = next.images.map((image, i) => {
    const theirs = current.images[i];
    return image.state === 'waiting' && theirs?.imageId ? theirs : image;
  });
  return {
    ...next,
    snapshots,
    images,
    snapshotIds: snapshots.flatMap((s) => (s.snapshotId ? [s.snapshotId] : [])),
    ...(next.state === 'queued' && snapshots.some((s) => s.snapshotId) ? { state: 'pending' } : {}),
  };
}

/**
 * A final record stays final, but copies this step started that it does not name are added to it (a duplicate
 * that read the record before it failed): a copy is never left in the Region unrecorded, so pruning finds it.
 */
export function recordStarted(current: CopyRecord, next: CopyRecord): CopyRecord | undefined {
  const snapshots = current.snapshots.map((s, i) => {
    const mine = next.snapshots[i];
    return !s.snapshotId && mine?.snapshotId ? mine : s;
  });
  const images = current.images.map((image, i) => {
    const mine = next.images[i];
    return !image.imageId && mine?.imageId ? mine : image;
  });
  const added =
    snapshots.some((s, i) => s !== current.snapshots[i]) || images.some((x, i) => x !== current.images[i]);
  if (!added) return undefined;
  return {
    ...current,
    snapshots,
    images,
    snapshotIds: snapshots.flatMap((s) => (s.snapshotId ? [s.snapshotId] : [])),
  };
}

/** A copy's slot, named so that a held slot tells which generation and source it is for (see `sweepSlots`). */
export function slotKey(generationId: string, sourceId: string): string {
  return `${generationId}#${sourceId}`;
}
