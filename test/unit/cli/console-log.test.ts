import { describe, expect, it } from 'vitest';
import { consoleLog } from '#cli/console-log.ts';
import { AwsOperationError, describeErrorChain } from '#core/model/errors.ts';

function captured() {
  const lines: string[] = [];
  return { lines, log: consoleLog((line) => lines.push(line), 'debug') };
}

describe("the CLI's log", () => {
  it('prints a logged error by its message and its cause, not as {}', () => {
    const { lines, log } = captured();
    const throttled = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    log.error('prune failed', {
      generationId: 'gen-1',
      error: new AwsOperationError('DeleteSnapshot', 'the snapshot was not deleted', { cause: throttled }),
    });
    expect(lines).toEqual([
      'ERROR prune failed  generationId=gen-1 error="DeleteSnapshot: the snapshot was not deleted ← cause: ThrottlingException: Rate exceeded"\n',
    ]);
  });

  it('leaves out a field that is undefined rather than print key=undefined', () => {
    const { lines, log } = captured();
    log.info('thaw sent', { instanceIds: ['i-1'], freezeWindowMs: undefined });
    expect(lines).toEqual(['· thaw sent  instanceIds=["i-1"]\n']);
  });

  it('prints strings as they are and other values as JSON', () => {
    const { lines, log } = captured();
    log.info('copies queued', { generationId: 'gen-1', regions: ['eu-west-1'] });
    expect(lines).toEqual(['· copies queued  generationId=gen-1 regions=["eu-west-1"]\n']);
  });
});

describe('describeErrorChain', () => {
  it('leaves out a cause the message already repeats', () => {
    const cause = new Error('socket hang up');
    const error = new AwsOperationError('Query', `failed: ${cause.message}`, { cause });
    expect(describeErrorChain(error)).toBe('Query: failed: socket hang up');
  });

  it('describes a thrown value that is not an Error', () => {
    expect(describeErrorChain('boom')).toBe('boom');
  });
});
