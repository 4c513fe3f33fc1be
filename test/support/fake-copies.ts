import type { CopyMessage, CopyQueue, CopySlots, SlotRequest, SlotResult } from '#core/copies/ports.ts';
import type { Clock } from '#core/model/ports.ts';

/** The copy slots as `DynamoCopySlots` keeps them: per Region, key → holder and when it was taken. */
export class FakeCopySlots implements CopySlots {
  private readonly regions = new Map<string, Map<string, { holder: string; acquiredAt: string }>>();
  /** Every acquire, with what it got: how tests see a worker waiting for a slot. */
  readonly acquires: { region: string; key: string; holder: string; result: SlotResult }[] = [];

  async acquire(request: SlotRequest): Promise<SlotResult> {
    await Promise.resolve();
    const result = this.decide(request);
    this.acquires.push({ region: request.region, key: request.key, holder: request.holder, result });
    return result;
  }

  async release(region: string, keys: readonly string[]): Promise<void> {
    await Promise.resolve();
    for (const key of keys) this.regions.get(region)?.delete(key);
  }

  async held(region: string): Promise<Map<string, { holder: string; acquiredAt: string }>> {
    await Promise.resolve();
    return new Map([...(this.regions.get(region) ?? [])].map(([key, slot]) => [key, { ...slot }]));
  }

  private decide(request: Parameters<CopySlots['acquire']>[0]): SlotResult {
    const { region, key, holder, limit, now, staleAfterMs } = request;
    const held = this.regions.get(region) ?? new Map<string, { holder: string; acquiredAt: string }>();
    this.regions.set(region, held);
    const current = held.get(key);
    if (current?.holder === holder) return 'acquired';
    if (current && Date.parse(now) - Date.parse(current.acquiredAt) < staleAfterMs) return 'busy';
    // A stale slot is taken over in place: it is counted already.
    if (!current && held.size >= limit) return 'full';
    held.set(key, { holder, acquiredAt: now });
    return 'acquired';
  }
}

export interface SentCopyMessage extends CopyMessage {
  /** When it was sent and when it becomes visible (sent plus its delay), as ISO times. */
  sentAt: string;
  visibleAt: string;
  delaySeconds: number;
}

/** The copy queue as an in-memory list: messages sent with their delays, taken once each when visible. */
export class FakeCopyQueue implements CopyQueue {
  readonly sent: SentCopyMessage[] = [];
  private pending: SentCopyMessage[] = [];

  /** Send times come from `clock`, so delays line up with the test's clock. */
  constructor(private readonly clock: Clock = { now: () => new Date() }) {}

  async send(messages: readonly CopyMessage[], delaySeconds = 0): Promise<void> {
    await Promise.resolve();
    const delay = Math.min(Math.max(0, Math.floor(delaySeconds)), 900);
    const sentAt = this.clock.now();
    for (const { generationId, region } of messages) {
      const message: SentCopyMessage = {
        generationId,
        region,
        sentAt: sentAt.toISOString(),
        visibleAt: new Date(sentAt.getTime() + delay * 1000).toISOString(),
        delaySeconds: delay,
      };
      this.sent.push(message);
      this.pending.push(message);
    }
  }

  /** Removes and returns the messages visible at `at` (ISO), in the order they were sent. */
  take(at: string): SentCopyMessage[] {
    const visible = this.pending.filter((m) => m.visibleAt <= at);
    this.pending = this.pending.filter((m) => m.visibleAt > at);
    return visible;
  }

  /** Messages not taken yet, visible or not. */
  waiting(): SentCopyMessage[] {
    return [...this.pending];
  }
}
