import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { LINUX_FREEZE_DOCUMENT } from '#adapters/ssm.ts';
import { linuxFreezeScript } from '../../infra/freeze-documents.ts';
import {
  actionsOf,
  policyStatements,
  repoConfigFile,
  resourcesOf,
  SYNTH_TIMEOUT_MS,
  type Synthesized,
  synthesize,
} from './synth.ts';

// The repository config uses filesystem consistency and an AMI schedule, so its stack carries both.

describe('the freeze document and the permissions of freezes and AMIs', () => {
  let synthesized: Synthesized;
  beforeAll(() => {
    synthesized = synthesize(repoConfigFile);
  }, SYNTH_TIMEOUT_MS);

  it('ships the Linux freeze document under the name the Lambda uses, with constrained parameters', () => {
    // The runbooks' Automation documents are the others (test/infra/runbooks.test.ts).
    const documents = Object.values(synthesized.template.findResources('AWS::SSM::Document')).filter(
      (document) => document.Properties.DocumentType === 'Command',
    );
    expect(documents).toHaveLength(1);
    const properties = documents[0]?.Properties;
    expect(properties).toMatchObject({ Name: LINUX_FREEZE_DOCUMENT, DocumentType: 'Command' });
    for (const parameter of Object.values(properties.Content.parameters) as Record<string, unknown>[]) {
      expect(parameter.allowedValues ?? parameter.allowedPattern).toBeDefined();
    }
  });

  it('has a freeze script that parses as shell and arms its watchdog before it freezes anything', () => {
    for (const shell of ['sh', 'bash']) {
      const parsed = spawnSync(shell, ['-n'], { input: linuxFreezeScript });
      expect(parsed.status, `${shell}: ${parsed.stderr}`).toBe(0);
    }
    expect(linuxFreezeScript.indexOf('systemd-run')).toBeLessThan(linuxFreezeScript.indexOf('fsfreeze -f'));
    expect(linuxFreezeScript).toContain('NotAfter');
  });

  it('sends commands only with its documents, and only to instances tagged for a policy', () => {
    const sending = policyStatements(synthesized.template).filter((s) =>
      actionsOf(s).includes('ssm:SendCommand'),
    );
    // Two statements in each role that freezes: the scheduled run's and the on-demand backup's.
    expect(sending).toHaveLength(4);
    const onInstances = sending.filter((s) => resourcesOf(s).some((r) => r.includes('instance/*')));
    expect(onInstances).toHaveLength(2);
    for (const statement of onInstances) {
      expect(statement.Condition).toEqual({ StringLike: { 'ssm:resourceTag/snapkeeper:policy': '*' } });
    }
    for (const onDocuments of sending.filter((s) => !onInstances.includes(s))) {
      expect(resourcesOf(onDocuments).join()).toMatch(
        new RegExp(
          `document/${LINUX_FREEZE_DOCUMENT}.*document/AWSEC2-ManageVssIO|document/AWSEC2-ManageVssIO.*document/${LINUX_FREEZE_DOCUMENT}`,
        ),
      );
    }
  });

  it('creates AMIs only born tagged as managed, and tags only inside CreateImage', () => {
    const statements = policyStatements(synthesized.template);
    const created = statements.filter(
      (s) => actionsOf(s).includes('ec2:CreateImage') && resourcesOf(s).some((r) => r.includes('image/*')),
    );
    // The scheduled run's and the on-demand backup's roles, which make AMIs alike.
    const managed = expect.objectContaining({
      Condition: { StringEquals: { 'aws:RequestTag/snapkeeper:managed': 'true' } },
    });
    expect(created).toEqual([managed, managed]);
    const tagging = statements.filter(
      (s) => actionsOf(s).includes('ec2:CreateTags') && resourcesOf(s).some((r) => r.includes('image/*')),
    );
    // The two runs', inside CreateImage; and the copy worker's, inside the copies it makes in the DR Regions.
    expect(tagging.map((s) => s.Condition)).toEqual([
      { StringEquals: { 'ec2:CreateAction': ['CopySnapshot', 'CopyImage'] } },
      { StringEquals: { 'ec2:CreateAction': 'CreateImage' } },
      { StringEquals: { 'ec2:CreateAction': 'CreateImage' } },
    ]);
  });
});
