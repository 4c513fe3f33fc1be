// docs/deploy.md's generated parts (scripts/docs/deploy-guide.ts) against the synthesized stacks of the example
// config: the page says what `cdk deploy` creates and what `cdk destroy` keeps, and cannot drift from the code.
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { DEPLOY_GENERATED, renderResourceTable } from '../../scripts/docs/deploy-guide.ts';
import { regionOf } from '../../scripts/docs/regions.ts';
import { SYNTH_TIMEOUT_MS } from './synth.ts';

const page = () => readFile(new URL('../../docs/deploy.md', import.meta.url), 'utf8');

describe('the deploy guide', () => {
  for (const { region, render } of DEPLOY_GENERATED) {
    it(`docs/deploy.md (${region}) matches the synthesized stacks; run npm run docs if not`, {
      timeout: SYNTH_TIMEOUT_MS,
    }, async () => {
      expect(regionOf(await page(), region)).toBe(await render());
    });
  }

  it('says the catalog, the logs, the mark key and the manifest bucket outlive cdk destroy', {
    timeout: SYNTH_TIMEOUT_MS,
  }, async () => {
    const table = await renderResourceTable();
    const retainedTypes = table
      .split('\n')
      .filter((row) => row.includes('retained**'))
      .map((row) => row.split('|')[2]?.trim());
    expect(retainedTypes).toEqual([
      '`AWS::DynamoDB::Table`',
      '`AWS::Logs::LogGroup`',
      '`AWS::SecretsManager::Secret`',
      '`AWS::S3::Bucket`',
    ]);
    // The uninstall steps name each one.
    const uninstall = (await page()).split('## Uninstalling')[1] ?? '';
    for (const what of ['aws dynamodb', 'aws logs delete-log-group', 'aws secretsmanager', 'aws s3api']) {
      expect(uninstall).toContain(what);
    }
  });
});
