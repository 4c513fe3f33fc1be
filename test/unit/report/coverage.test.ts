import { describe, expect, it } from 'vitest';
import { TAG } from '#core/model/tags.ts';
import { unknownPolicyNames, unprotectedResources } from '#core/report/coverage.ts';
import { FakeCatalog } from '../../support/fake-catalog.ts';
import { aConfig, aGeneration, anInstance, aPolicy, aVolume, policyTag } from '../../support/fakes.ts';

const config = aConfig({
  policies: [aPolicy(), aPolicy({ name: 'vols', targets: 'volumes' })],
});

describe('unprotected resources', () => {
  it('covers the volumes of a tagged instance through it, except one it excludes', async () => {
    const web = anInstance({
      volumes: 3,
      tags: policyTag('daily'),
      volumeTags: [{}, {}, { [TAG.exclude]: 'true' }],
    });
    const found = await unprotectedResources(
      { config, catalog: new FakeCatalog() },
      { instances: [web.instance], volumes: web.volumes },
    );
    expect(found).toEqual([
      { kind: 'volume', id: web.volumeIds[2], reason: 'snapkeeper:exclude=true and no generation' },
    ]);
  });

  it('covers an untagged instance whose every volume a volume policy takes, and anything with a generation', async () => {
    const covered = anInstance({ volumes: 1, volumeTags: [policyTag('vols')] });
    const adopted = aVolume({ tags: { Name: 'old' } });
    const catalog = new FakeCatalog().seed(aGeneration({ volumeId: adopted.volumeId }));
    const found = await unprotectedResources(
      { config, catalog },
      { instances: [covered.instance], volumes: [...covered.volumes, adopted] },
    );
    expect(found).toEqual([]);
  });

  it('lists an untagged instance and its volumes, a wrongly tagged one, and skips terminated instances', async () => {
    const bare = anInstance({ volumes: 1, tags: { Name: 'bare' } });
    const wrongKind = aVolume({ tags: policyTag('daily') });
    const gone = anInstance({ volumes: 0, state: 'terminated' });
    const found = await unprotectedResources(
      { config, catalog: new FakeCatalog() },
      { instances: [bare.instance, gone.instance], volumes: [...bare.volumes, wrongKind] },
    );
    expect(found).toEqual([
      {
        kind: 'instance',
        id: bare.instanceId,
        name: 'bare',
        reason: 'no snapkeeper:policy tag and no generation',
      },
      { kind: 'volume', id: bare.bootVolumeId, reason: 'no snapkeeper:policy tag and no generation' },
      {
        kind: 'volume',
        id: wrongKind.volumeId,
        reason: 'snapkeeper:policy=daily names no volume policy, and no generation',
      },
    ]);
  });
});

describe('policy names that exist nowhere', () => {
  it('names each tag value that is no policy, per resource, with the fix', () => {
    const volume = aVolume({ tags: policyTag('vols', 'dialy') });
    const instance = anInstance({ volumes: 0, tags: policyTag('weekly') });
    expect(unknownPolicyNames(config, { instances: [instance.instance], volumes: [volume] })).toEqual([
      expect.objectContaining({ resourceId: instance.instanceId, kind: 'instance', policy: 'weekly' }),
      {
        resourceId: volume.volumeId,
        kind: 'volume',
        policy: 'dialy',
        problem:
          'snapkeeper:policy names "dialy", which is no policy (policies: daily, vols); fix the tag, or add the policy to the config',
      },
    ]);
  });
});
