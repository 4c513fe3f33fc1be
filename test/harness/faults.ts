import type {
  FinalizeHandler,
  FinalizeHandlerArguments,
  FinalizeHandlerOutput,
  FinalizeRequestMiddleware,
  HandlerExecutionContext,
  Pluggable,
} from '@smithy/types';
import { SMITHY_CONTEXT_KEY } from '@smithy/types';
import { CopyLimit, type CopyLimitOptions } from './copy-faults.ts';
import {
  actionName,
  type Clock,
  type InjectedErrorShape,
  mulberry32,
  serviceName,
  systemClock,
  TokenBucket,
  throttlingErrorName,
} from './fault-primitives.ts';
import { sdkError } from './sdk-errors.ts';
import { type PendingSnapshotsOptions, pendingSnapshotsRules } from './snapshot-faults.ts';

/** An SDK output or input as the fault layer sees it: the command's plain object. */
export type Shape = Record<string, unknown>;

/** One call seen by the fault layer. Each SDK attempt is a call, so retries show up one by one. */
export interface FaultCall {
  action: string;
  service: string;
  input: Shape;
  outcome: 'ok' | 'throttled' | 'failed' | 'synthesized' | 'error';
  /** Error name, for `throttled`, `failed` (injected) and `error` (from the emulator). */
  error?: string;
  /** On the fault clock. */
  at: number;
}

/** What a rule sees of a call. */
export interface CallContext {
  readonly action: string;
  readonly service: string;
  readonly input: Shape;
  readonly now: number;
  /** The Region the client signs for, which is the Region the call acts in (as AWS and the emulator read it). */
  readonly region?: string;
}

/** What a rule's `before` may decide: wait, fail the call, or answer it without the emulator. */
export interface BeforeDecision {
  delayMs?: number;
  error?: InjectedErrorShape;
  output?: Shape;
}

/**
 * The unit of extension: a rule watches some actions, may act before the call reaches the emulator and
 * may rewrite what comes back. Rules run in the order they were added; the first error or output wins.
 */
export interface FaultRule {
  /** Action names (`CreateSnapshots`), or `*` for every action. */
  readonly actions: readonly string[];
  before?(call: CallContext, random: () => number): BeforeDecision | undefined;
  after?(output: Shape, call: CallContext): Shape;
}

export type Actions = string | readonly string[];
export type Millis = number | { minMs: number; maxMs: number };

export interface FaultsOptions {
  /** Seeds every random choice (probabilities, latency ranges). Default 1. */
  seed?: number;
  clock?: Clock;
  /** How latency is waited out; tests on a manual clock pass one that advances it. */
  sleep?: (ms: number) => Promise<void>;
}

export interface FailOptions {
  /** Error name, e.g. `IncorrectState`, `InternalError`, `InvocationDoesNotExist`. */
  name: string;
  message?: string;
  /** Fail only the first `times` matching calls (default: no limit). */
  times?: number;
  /** Fail each matching call with this probability, drawn from the seeded PRNG (default 1). */
  probability?: number;
  /** Only calls whose input passes this predicate are candidates. */
  when?: (input: Shape) => boolean;
  httpStatusCode?: number;
  fault?: 'client' | 'server';
}

/** A deterministic fault-injection layer for AWS SDK v3 clients, plugged in as one middleware. */
export class Faults {
  /** Every call seen, in order, with its outcome. */
  readonly calls: FaultCall[] = [];
  private readonly rules: { rule: FaultRule; random: () => number }[] = [];
  private readonly clock: Clock;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly seed: number;
  private requests = 0;

  constructor(options: FaultsOptions = {}) {
    this.seed = options.seed ?? 1;
    this.clock = options.clock ?? systemClock;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Adds a rule. Each rule draws from its own PRNG stream, so adding one does not shift the others' draws. */
  use(rule: FaultRule): this {
    const random = mulberry32((this.seed + Math.imul(this.rules.length + 1, 0x9e3779b9)) >>> 0);
    this.rules.push({ rule, random });
    return this;
  }

  /** Token-bucket throttling shared by the listed actions (one bucket, as EC2 meters an action family). */
  throttle(actions: Actions, opts: { ratePerSecond: number; burst: number; errorName?: string }): this {
    const bucket = new TokenBucket(opts.burst, opts.ratePerSecond, this.clock.now());
    return this.use({
      actions: list(actions),
      before: (call) => {
        if (bucket.take(call.now)) return undefined;
        const ec2 = call.service === 'EC2';
        const name = opts.errorName ?? throttlingErrorName(call.service);
        return {
          error: {
            name,
            message: 'Request limit exceeded.',
            throttling: true,
            httpStatusCode: ec2 ? 503 : 400,
          },
        };
      },
    });
  }

  /** Delays every matching call by a fixed time or a seeded-random time in a range. */
  latency(actions: Actions, ms: Millis): this {
    return this.use({
      actions: list(actions),
      before: (_call, random) => ({
        delayMs: typeof ms === 'number' ? ms : ms.minMs + random() * (ms.maxMs - ms.minMs),
      }),
    });
  }

  /** Fails matching calls with a named error: the first `times`, or each with `probability`, or all. */
  fail(actions: Actions, opts: FailOptions): this {
    let failed = 0;
    return this.use({
      actions: list(actions),
      before: (call, random) => {
        if (opts.when && !opts.when(call.input)) return undefined;
        if (opts.times !== undefined && failed >= opts.times) return undefined;
        if (opts.probability !== undefined && random() >= opts.probability) return undefined;
        failed += 1;
        const { name, message, httpStatusCode, fault } = opts;
        return { error: { name, message, httpStatusCode, fault } };
      },
    });
  }

  /** Rewrites the emulator's output of matching calls. */
  transform(actions: Actions, fn: (output: Shape, input: Shape) => Shape): this {
    return this.use({ actions: list(actions), after: (output, call) => fn(output, call.input) });
  }

  /** Answers matching calls with a synthesized output; the emulator never sees them. */
  respond(actions: Actions, fn: (input: Shape) => Shape): this {
    return this.use({ actions: list(actions), before: (call) => ({ output: fn(call.input) }) });
  }

  /** Makes new snapshots report `pending` for `forCalls` describes or `forMs` on the fault clock. */
  pendingSnapshots(opts: PendingSnapshotsOptions): this {
    for (const rule of pendingSnapshotsRules(opts)) this.use(rule);
    return this;
  }

  /**
   * EBS's concurrent-copy quota per destination Region: copies stay in flight (`pending`) for `durationMs` or
   * until released, and a copy started while `limit` are in flight fails with `ResourceLimitExceeded`.
   */
  copyLimit(opts: CopyLimitOptions): CopyLimit {
    const limit = new CopyLimit(opts, this.clock, () => this.calls);
    for (const rule of limit.rules()) this.use(rule);
    return limit;
  }

  /** Calls seen for an action, optionally only those with one outcome. */
  count(action: string, outcome?: FaultCall['outcome']): number {
    return this.calls.filter((c) => c.action === action && (!outcome || c.outcome === outcome)).length;
  }

  /** The SDK plugin: `new AwsClients({ middleware: [faults.pluggable()] })`. */
  pluggable(): Pluggable<object, object> {
    return {
      applyToStack: (stack) => {
        // Inside the retry loop, so every SDK attempt meets the faults again (a throttled call is retried and
        // spends another token); above the deserializer, so rules see parsed outputs.
        const middleware: FinalizeRequestMiddleware<object, object> = (next, context) =>
          this.handler(next, context);
        stack.addRelativeTo(middleware, {
          name: 'snapkeeperFaults',
          relation: 'after',
          toMiddleware: 'retryMiddleware',
          override: true,
        });
      },
    };
  }

  private handler(next: FinalizeHandler<object, object>, context: HandlerExecutionContext) {
    const action = actionName(context.commandName);
    const service = serviceName(context.clientName);
    return async (args: FinalizeHandlerArguments<object>): Promise<FinalizeHandlerOutput<object>> => {
      const call: CallContext = {
        action,
        service,
        input: args.input as Shape,
        now: this.clock.now(),
        region: signingRegion(context),
      };
      const active = this.rules.filter(
        ({ rule }) => rule.actions.includes(action) || rule.actions.includes('*'),
      );
      let delayMs = 0;
      let decision: BeforeDecision | undefined;
      for (const { rule, random } of active) {
        const d = rule.before?.(call, random);
        delayMs += d?.delayMs ?? 0;
        if (d?.error || d?.output) {
          decision = d;
          break;
        }
      }
      if (delayMs > 0) await this.sleep(delayMs);
      const record = (outcome: FaultCall['outcome'], error?: string) =>
        this.calls.push({ action, service, input: call.input, outcome, error, at: call.now });

      if (decision?.error) {
        const error = await sdkError({ ...decision.error, service }, `fault-${++this.requests}`);
        record(decision.error.throttling ? 'throttled' : 'failed', error.name);
        throw error;
      }
      let result: FinalizeHandlerOutput<object>;
      if (decision?.output) {
        const $metadata = { httpStatusCode: 200, requestId: `fault-${++this.requests}`, attempts: 1 };
        result = { output: { $metadata, ...decision.output }, response: { statusCode: 200, headers: {} } };
      } else {
        try {
          result = await next(args);
        } catch (error) {
          record('error', (error as Error).name);
          throw error;
        }
      }
      let output = result.output as Shape;
      const afterCall = { ...call, now: this.clock.now() }; // latency and the emulator took time
      for (const { rule } of active) if (rule.after) output = rule.after(output, afterCall);
      record(decision?.output ? 'synthesized' : 'ok');
      return { ...result, output };
    };
  }
}

/** `new Faults(options)`, for call sites that read better as a function. */
export function faults(options?: FaultsOptions): Faults {
  return new Faults(options);
}

/**
 * The Region a client signs its request for, which is the Region the call acts in. The SDK chooses it in the
 * serialize step, so middleware reads it there or later (the fault layer sits in the finalize step).
 */
export function signingRegion(context: HandlerExecutionContext): string | undefined {
  const region =
    context[SMITHY_CONTEXT_KEY]?.selectedHttpAuthScheme?.httpAuthOption.signingProperties?.region;
  return typeof region === 'string' ? region : undefined;
}

function list(actions: Actions): readonly string[] {
  return typeof actions === 'string' ? [actions] : actions;
}
