import { EC2ServiceException } from '@aws-sdk/client-ec2';
import { InvocationDoesNotExist, SSMServiceException } from '@aws-sdk/client-ssm';
import type { FinalizeHandlerArguments, FinalizeRequestMiddleware, MiddlewareStack } from '@smithy/types';
import { describe, expect, it } from 'vitest';
import { ManualClock, mulberry32, TokenBucket } from '../../harness/fault-primitives.ts';
import { Faults, type Shape } from '../../harness/faults.ts';

/** Drives the fault middleware the way the SDK does, with `emulator` standing in for the rest of the stack. */
function driver(faults: Faults, emulator: (action: string, input: Shape) => Shape = () => ({})) {
  let middleware: FinalizeRequestMiddleware<object, object> | undefined;
  const stack = { addRelativeTo: (m: FinalizeRequestMiddleware<object, object>) => (middleware = m) };
  faults.pluggable().applyToStack(stack as unknown as MiddlewareStack<object, object>);
  let reached = 0;
  const call = async (command: string, input: Shape = {}, clientName = 'EC2Client'): Promise<Shape> => {
    const action = command.replace(/Command$/, '');
    const next = async (args: FinalizeHandlerArguments<object>) => {
      reached += 1;
      return { output: emulator(action, args.input as Shape), response: {} };
    };
    const handler = middleware?.(next, { commandName: command, clientName });
    if (!handler) throw new Error('the fault layer did not register its middleware');
    const { output } = await handler({ input, request: {} });
    return output as Shape;
  };
  return { call, reached: () => reached };
}

async function outcome(promise: Promise<unknown>): Promise<string> {
  return promise.then(
    () => 'ok',
    (error: Error) => error.name,
  );
}

describe('mulberry32', () => {
  it('gives the same sequence for the same seed and another for another seed', () => {
    const a = mulberry32(42);
    const b = mulberry32(42);
    const c = mulberry32(43);
    const seqA = Array.from({ length: 5 }, a);
    expect(Array.from({ length: 5 }, b)).toEqual(seqA);
    expect(Array.from({ length: 5 }, c)).not.toEqual(seqA);
    for (const x of seqA) expect(x >= 0 && x < 1).toBe(true);
  });
});

describe('TokenBucket', () => {
  it('allows a burst, then refills at the rate, never above the burst', () => {
    const bucket = new TokenBucket(10, 5, 0);
    const granted = Array.from({ length: 11 }, () => bucket.take(0));
    expect(granted.filter(Boolean)).toHaveLength(10);
    expect(bucket.take(100)).toBe(false); // half a token
    expect(bucket.take(200)).toBe(true); // one token after 200 ms at 5/s
    expect(bucket.available(1200)).toBeCloseTo(5);
    expect(bucket.available(60_000)).toBe(10);
  });
});

describe('Faults', () => {
  it('normalises command names and records every call with its input and outcome', async () => {
    const faults = new Faults();
    const { call } = driver(faults);
    await call('CreateSnapshotsCommand', { CopyTagsFromSource: 'volume' });
    expect(faults.calls).toEqual([
      expect.objectContaining({ action: 'CreateSnapshots', service: 'EC2', outcome: 'ok' }),
    ]);
    expect(faults.calls[0]?.input).toEqual({ CopyTagsFromSource: 'volume' });
  });

  it('throttles with the error EC2 and the SDK retry strategy recognise once the bucket is empty', async () => {
    const clock = new ManualClock();
    const faults = new Faults({ clock }).throttle('CreateSnapshots', { ratePerSecond: 5, burst: 2 });
    const { call, reached } = driver(faults);
    await call('CreateSnapshotsCommand');
    await call('CreateSnapshotsCommand');
    const error = await call('CreateSnapshotsCommand').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EC2ServiceException);
    expect(error).toMatchObject({
      injected: true,
      name: 'RequestLimitExceeded',
      $fault: 'client',
      $metadata: { httpStatusCode: 503 },
      $retryable: { throttling: true },
    });
    expect(reached()).toBe(2);
    clock.advance(200);
    expect(await outcome(call('CreateSnapshotsCommand'))).toBe('ok');
    expect(faults.count('CreateSnapshots', 'throttled')).toBe(1);
  });

  it('shares one bucket among the actions of one throttle and names the throttle per service', async () => {
    const faults = new Faults({ clock: new ManualClock() }).throttle(
      ['SendCommand', 'GetCommandInvocation'],
      {
        ratePerSecond: 1,
        burst: 1,
      },
    );
    const { call } = driver(faults);
    expect(await outcome(call('SendCommandCommand', {}, 'SSMClient'))).toBe('ok');
    expect(await outcome(call('GetCommandInvocationCommand', {}, 'SSMClient'))).toBe('ThrottlingException');
  });

  it('fails an action the first N times, only for inputs that match', async () => {
    const faults = new Faults().fail('CreateSnapshot', {
      name: 'IncorrectState',
      times: 2,
      when: (input) => input.VolumeId === 'vol-1',
    });
    const { call } = driver(faults);
    const results = [];
    for (const VolumeId of ['vol-2', 'vol-1', 'vol-1', 'vol-1']) {
      results.push(await outcome(call('CreateSnapshotCommand', { VolumeId })));
    }
    expect(results).toEqual(['ok', 'IncorrectState', 'IncorrectState', 'ok']);
    expect(faults.count('CreateSnapshot', 'failed')).toBe(2);
  });

  it('gives server-side errors the 5xx shape the SDK retries', async () => {
    const { call } = driver(new Faults().fail('DescribeVolumes', { name: 'InternalError' }));
    const error = await call('DescribeVolumesCommand').catch((e: unknown) => e);
    expect(error).toMatchObject({ $fault: 'server', $metadata: { httpStatusCode: 500 } });
  });

  it('throws the modeled SDK exception class when the service has one of that name', async () => {
    const { call } = driver(new Faults().fail('GetCommandInvocation', { name: 'InvocationDoesNotExist' }));
    const error = await call('GetCommandInvocationCommand', {}, 'SSMClient').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvocationDoesNotExist);
    expect(error).toBeInstanceOf(SSMServiceException);
    expect(error).toMatchObject({ $fault: 'client', $metadata: { httpStatusCode: 400 } });
  });

  it('fails with a probability that is the same for the same seed', async () => {
    const pattern = async (seed: number) => {
      const { call } = driver(new Faults({ seed }).fail('*', { name: 'InternalError', probability: 0.5 }));
      const out: string[] = [];
      for (let i = 0; i < 32; i++) out.push(await outcome(call('DescribeSnapshotsCommand')));
      return out.join(',');
    };
    const first = await pattern(7);
    expect(await pattern(7)).toBe(first);
    expect(await pattern(8)).not.toBe(first);
    expect(first).toContain('InternalError');
    expect(first).toContain('ok');
  });

  it('adds fixed or seeded-random latency before the call', async () => {
    const waits: number[] = [];
    const sleep = async (ms: number) => void waits.push(ms);
    const faults = new Faults({ seed: 3, sleep })
      .latency('CreateSnapshot', 250)
      .latency('DescribeSnapshots', { minMs: 100, maxMs: 200 });
    const { call } = driver(faults);
    await call('CreateSnapshotCommand');
    await call('DescribeSnapshotsCommand');
    await call('DescribeSnapshotsCommand');
    expect(waits[0]).toBe(250);
    for (const w of waits.slice(1)) expect(w >= 100 && w <= 200).toBe(true);
    expect(waits[1]).not.toBe(waits[2]);
  });

  it('rewrites outputs with a transform that sees the input', async () => {
    const faults = new Faults().transform('DescribeVolumes', (output, input) => ({
      ...output,
      Echo: input.Marker,
    }));
    const { call } = driver(faults, () => ({ Volumes: [] }));
    expect(await call('DescribeVolumesCommand', { Marker: 'm' })).toEqual({ Volumes: [], Echo: 'm' });
  });

  it('answers synthesized outputs without reaching the emulator', async () => {
    const faults = new Faults().respond('GetCommandInvocation', (input) => ({
      CommandId: input.CommandId,
      Status: 'TimedOut',
    }));
    const { call, reached } = driver(faults);
    const output = await call('GetCommandInvocationCommand', { CommandId: 'c-1' }, 'SSMClient');
    expect(output).toMatchObject({
      CommandId: 'c-1',
      Status: 'TimedOut',
      $metadata: { httpStatusCode: 200 },
    });
    expect(reached()).toBe(0);
    expect(faults.count('GetCommandInvocation', 'synthesized')).toBe(1);
  });
});

describe('Faults.pendingSnapshots', () => {
  const emulator = (action: string): Shape => {
    const snapshot = { SnapshotId: 'snap-1', State: 'completed', Progress: '100%' };
    return action === 'CreateSnapshot' ? snapshot : { Snapshots: [snapshot] };
  };

  it('reports a new snapshot pending, with rising progress, for the given number of describes', async () => {
    const { call } = driver(new Faults().pendingSnapshots({ forCalls: 2 }), emulator);
    expect(await call('CreateSnapshotCommand')).toMatchObject({ State: 'pending', Progress: '0%' });
    const states = [];
    for (let i = 0; i < 3; i++) {
      const { Snapshots } = (await call('DescribeSnapshotsCommand')) as { Snapshots: Shape[] };
      states.push(`${Snapshots[0]?.State} ${Snapshots[0]?.Progress}`);
    }
    expect(states).toEqual(['pending 33%', 'pending 66%', 'completed 100%']);
  });

  it('keeps snapshots pending for a time on the fault clock and honours a status filter', async () => {
    const clock = new ManualClock();
    const { call } = driver(new Faults({ clock }).pendingSnapshots({ forMs: 60_000 }), emulator);
    const completedOnly = { Filters: [{ Name: 'status', Values: ['completed'] }] };
    expect(await call('DescribeSnapshotsCommand', completedOnly)).toEqual({ Snapshots: [] });
    clock.advance(30_000);
    expect(await call('DescribeSnapshotsCommand')).toMatchObject({ Snapshots: [{ Progress: '50%' }] });
    clock.advance(30_000);
    expect(await call('DescribeSnapshotsCommand', completedOnly)).toMatchObject({
      Snapshots: [{ State: 'completed' }],
    });
  });
});
