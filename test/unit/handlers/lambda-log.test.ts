import { afterEach, describe, expect, it, vi } from 'vitest';
import { AwsOperationError } from '#core/model/errors.ts';
import { lambdaLog } from '#handlers/lambda.ts';

afterEach(() => {
  vi.restoreAllMocks();
});

describe("the Lambdas' log", () => {
  it('writes a logged error with its name, message, stack and cause', () => {
    const written: string[] = [];
    // Powertools writes error entries to stderr.
    for (const stream of [process.stdout, process.stderr]) {
      vi.spyOn(stream, 'write').mockImplementation((chunk) => {
        written.push(String(chunk));
        return true;
      });
    }
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    lambdaLog.error('prune failed', {
      generationId: 'gen-1',
      error: new AwsOperationError('DeleteSnapshot', 'not deleted', { cause: throttled }),
    });
    const entry = JSON.parse(written.join('').trim().split('\n').at(-1) ?? '{}');
    expect(entry).toMatchObject({
      level: 'ERROR',
      message: 'prune failed',
      generationId: 'gen-1',
      error: {
        name: 'AwsOperationError',
        message: 'DeleteSnapshot: not deleted',
        stack: expect.stringContaining('lambda-log.test.ts'),
        cause: { name: 'ThrottlingException', message: 'Rate exceeded' },
      },
    });
  });
});
