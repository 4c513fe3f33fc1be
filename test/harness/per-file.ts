import { beforeAll, inject } from 'vitest';
import { emulatorEnv, resetEndpoint } from './emulator.ts';
import { resetLocalStack } from './localstack.ts';

// Setup files run before each test file's own imports, so clients built at module load see the emulator.
const endpoint = inject('emulatorEndpoint');
if (!endpoint)
  throw new Error('no emulator endpoint was provided; is test/harness/global-setup.ts configured?');
Object.assign(process.env, emulatorEnv(endpoint));

// Every file starts from an empty emulator. Files of a project run one at a time (vitest.config.ts), so a
// reset never pulls state from under another file. A reset of moto takes about 10 ms; LocalStack's, which
// restarts DynamoDB Local and proves it reset, about 1.5 s.
const reset = inject('emulatorKind') === 'localstack' ? resetLocalStack : resetEndpoint;
beforeAll(async () => {
  await reset(endpoint);
});
