import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { resetEndpoint } from '../../harness/emulator.ts';
import { emulatorKindOf, LOCALSTACK_EXCLUDED, LOCALSTACK_PROJECT } from '../../harness/emulator-choice.ts';
import { resetLocalStack } from '../../harness/localstack.ts';

describe('choosing the emulator', () => {
  it('runs the localstack project on LocalStack and every other on moto, unless SNAPKEEPER_EMULATOR says', () => {
    expect(emulatorKindOf(LOCALSTACK_PROJECT, {})).toBe('localstack');
    expect(emulatorKindOf('integration', {})).toBe('moto');
    expect(emulatorKindOf('bench', { SNAPKEEPER_EMULATOR: 'localstack' })).toBe('localstack');
    expect(emulatorKindOf(LOCALSTACK_PROJECT, { SNAPKEEPER_EMULATOR: 'moto' })).toBe('moto');
  });

  it('refuses an emulator it does not know, naming the variable and the choices', () => {
    expect(() => emulatorKindOf('integration', { SNAPKEEPER_EMULATOR: 'docker' })).toThrow(
      'SNAPKEEPER_EMULATOR=docker is not an emulator the harness knows: use moto or localstack',
    );
  });

  it('lists every file the LocalStack tier leaves out in docs/emulator.md, with why', () => {
    const page = readFileSync(new URL('../../../docs/emulator.md', import.meta.url), 'utf8');
    for (const { file, why } of LOCALSTACK_EXCLUDED) {
      expect(page).toContain(`\`${file}\``);
      expect(page).toContain(why);
    }
  });
});

type Route = (req: IncomingMessage, body: string) => { status?: number; body: string };
const servers: { close(): void }[] = [];
afterEach(() => {
  for (const server of servers.splice(0)) server.close();
});

/** A loopback endpoint answering every request through `route`; by default an empty 200, as LocalStack's catch-all. */
async function endpoint(route: Route = () => ({ body: '' })): Promise<string> {
  const server = createServer(async (req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const answer = route(req, body);
    res.writeHead(answer.status ?? 200, { 'content-type': 'application/x-amz-json-1.1' }).end(answer.body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  servers.push(server);
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no address');
  return `http://127.0.0.1:${address.port}`;
}

/** `GetParameter` of SSM, `DescribeTable` of DynamoDB: the JSON protocols name the action in a header. */
const action = (req: IncomingMessage) => String(req.headers['x-amz-target'] ?? '').replace(/^.*\./, '');
const notFound = (type: string) => ({ status: 400, body: `{"__type": "${type}", "message": "not found"}` });
const MARKER = { body: '{"reset": "snapkeeper", "services": ["ssm", "dynamodb"]}' };

describe('the LocalStack reset', () => {
  it('fails loudly when the reset is answered by an empty 200 from a catch-all', async () => {
    const url = await endpoint();
    await expect(resetLocalStack(url)).rejects.toThrow(
      /did not reset: POST \/_localstack\/state\/reset answered 200 "" without the reset hook's marker/,
    );
  });

  it('fails loudly when the reset answers with the marker but the sentinel written before it survives', async () => {
    const url = await endpoint((req) => {
      if (req.url === '/_localstack/state/reset') return MARKER;
      if (action(req) === 'GetParameter')
        return { body: '{"Parameter": {"Name": "x", "Value": "reset me"}}' };
      if (action(req) === 'DescribeTable') return notFound('ResourceNotFoundException');
      return { body: '{}' };
    });
    await expect(resetLocalStack(url)).rejects.toThrow(
      /answered the reset but kept state: parameter \S+ survived it/,
    );
  });

  it('fails loudly when a DynamoDB table written before the reset survives it', async () => {
    const url = await endpoint((req) => {
      if (req.url === '/_localstack/state/reset') return MARKER;
      if (action(req) === 'GetParameter') return notFound('ParameterNotFound');
      if (action(req) === 'DescribeTable') return { body: '{"Table": {"TableName": "x"}}' };
      return { body: '{}' };
    });
    await expect(resetLocalStack(url)).rejects.toThrow(/kept state: table \S+ in us-west-2 survived it/);
  });

  it('passes when the marker comes back and the sentinel is gone', async () => {
    const url = await endpoint((req) => {
      if (req.url === '/_localstack/state/reset') return MARKER;
      if (action(req) === 'GetParameter') return notFound('ParameterNotFound');
      if (action(req) === 'DescribeTable') return notFound('ResourceNotFoundException');
      return { body: '{}' };
    });
    await expect(resetLocalStack(url)).resolves.toBeUndefined();
  });

  it('is not taken for a reset by the generic reset either, which goes on to the next path', async () => {
    const paths: string[] = [];
    const logged: string[] = [];
    const url = await endpoint((req) => {
      paths.push(req.url ?? '');
      return { body: '' };
    });
    await resetEndpoint(url, (line) => logged.push(line));
    expect(paths).toEqual(['/moto-api/reset', '/_localstack/state/reset']);
    expect(logged).toEqual([expect.stringContaining('could not reset the endpoint; its state is kept')]);
  });
});
