// A setup file of the integration tier only: every port the composition root builds for a Lambda records the
// AWS calls it makes, for the permission contract test (test/infra/permissions.test.ts) to check against that
// Lambda's role. `vi.mock` in a setup file applies to every test file it runs before.
import { inject, vi } from 'vitest';
import { recordPermissionsTo } from './permission-recorder.ts';

vi.mock('#wiring', async (importOriginal) => {
  const { recordedWiring } = await import('./permission-recorder.ts');
  return recordedWiring(await importOriginal());
});

const file = inject('permissionRecordFile');
if (!file)
  throw new Error('no permission record file was provided; is test/harness/global-setup.ts configured?');
recordPermissionsTo(file);
