/**
 * The realistic emulator's control endpoint, as its clients see it: `POST /snapkeeper-api/realism` with these
 * settings sets them all (a setting left out takes its default) and re-seeds the emulator's random stream;
 * `GET` reads them back with what the simulated agents did. The emulator checks every field
 * (realism_settings.py) and answers 400 naming the field and what it takes.
 */

/** A duration in milliseconds, or a range drawn from the seeded random stream. */
export type Millis = number | { minMs: number; maxMs: number };

/** How the simulated SSM agent on an instance behaves. */
export interface AgentSettings {
  /** Registered with SSM and `Online` (default true); an offline agent's commands time out undelivered. */
  online?: boolean;
  /** From the send to the document finishing (default 0). */
  runMs?: Millis;
  /** `GetCommandInvocation` polls answered `InvocationDoesNotExist` after each send (default 1). */
  unregisteredPolls?: number;
  /** `hang` stays `InProgress` and never freezes (default `success`). */
  freeze?: 'success' | 'failed' | 'hang';
  thaw?: 'success' | 'failed';
  /** Refuse a freeze past its `NotAfter` by the emulator's clock (default true); a replay with `--at` in the past
   * sends `NotAfter` times already past, and switches this off. */
  checkNotAfter?: boolean;
}

export interface RealismSettings {
  /** Seeds every draw from a range (default 1). */
  seed?: number;
  /** How long a new snapshot, and an AMI with it, stays `pending` (default 0). */
  snapshotPendingMs?: Millis;
  /** How long a `CopySnapshot` or `CopyImage` copy stays `pending` (default 0). */
  copyPendingMs?: Millis;
  /** Copies pending at once per destination Region before `ResourceLimitExceeded` (default 20; null: none). */
  copyLimit?: number | null;
  /** EC2 token buckets, one per entry and Region, shared by every client (default none). */
  throttle?: { actions: string[]; ratePerSecond: number; burst: number }[];
  agents?: { default?: AgentSettings; instances?: Record<string, AgentSettings> };
}

export interface AgentEvent {
  instanceId: string;
  event: 'freeze-sent' | 'frozen' | 'thaw-sent' | 'thawed' | 'watchdog-thawed';
  /** Epoch milliseconds. */
  at: number;
}

export interface RealismState {
  settings: Required<RealismSettings>;
  agents: { events: AgentEvent[]; frozen: string[] };
}

export const REALISM_PATH = '/snapkeeper-api/realism';

/** Sets the emulator's realism at `endpoint`; rejects with the emulator's message when it refuses a field. */
export async function setRealism(endpoint: string, settings: RealismSettings): Promise<RealismState> {
  return control(endpoint, { method: 'POST', body: JSON.stringify(settings) });
}

/** The emulator's realism settings and what its simulated agents did since the last reset. */
export async function realismState(endpoint: string): Promise<RealismState> {
  return control(endpoint, { method: 'GET' });
}

async function control(endpoint: string, init: RequestInit): Promise<RealismState> {
  const response = await fetch(new URL(REALISM_PATH, endpoint), init);
  const body = (await response.json()) as RealismState & { message?: string };
  if (!response.ok) throw new Error(`the emulator refused the realism settings: ${body.message}`);
  return body;
}
