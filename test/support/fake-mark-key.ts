import type { MarkKey } from '#core/model/mark.ts';

/** The mark key of every unit test: long enough for the adapter's own check, and never a real secret. */
export const TEST_MARK_SECRET = new TextEncoder().encode('snapkeeper unit tests: a mark key of 32+ bytes');

/** A mark key in memory that counts its reads and can be made to fail, as SSM can. */
export class FakeMarkKey implements MarkKey {
  reads = 0;
  /** Set to make every read fail with this error. */
  failing?: Error;

  constructor(private readonly bytes: Uint8Array = TEST_MARK_SECRET) {}

  async secret(): Promise<Uint8Array> {
    this.reads += 1;
    await Promise.resolve();
    if (this.failing) throw this.failing;
    return this.bytes;
  }
}
