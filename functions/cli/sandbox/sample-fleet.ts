import type { EC2Client } from '@aws-sdk/client-ec2';
import { anInstance, aVolume } from './fleet.ts';

/** One resource of the sample fleet, as `snapkeeper sandbox --fleet` lists it. */
export interface FleetMember {
  id: string;
  name: string;
  tags: string;
}

/**
 * A small fleet that the example config (snapkeeper.config.json) backs up: two instances under the `daily` policy
 * (one with a data volume, one with two), a standalone volume under `volumes`, and a volume whose policy tag is
 * misspelt, which no policy takes. The instances run, so the sandbox's simulated agents freeze them.
 */
export async function sampleFleet(ec2: EC2Client, region: string): Promise<FleetMember[]> {
  const availabilityZone = `${region}a`;
  const web = await anInstance(ec2, {
    tags: { Name: 'web-1', 'snapkeeper:policy': 'daily' },
    dataVolumes: 1,
    volumeTags: [{ Name: 'web-1-data', App: 'shop' }],
    availabilityZone,
  });
  const db = await anInstance(ec2, {
    tags: { Name: 'db-1', 'snapkeeper:policy': 'daily' },
    dataVolumes: 2,
    availabilityZone,
  });
  const shared = await aVolume(ec2, {
    tags: { Name: 'shared-scratch', 'snapkeeper:policy': 'volumes' },
    availabilityZone,
  });
  const mistagged = await aVolume(ec2, {
    tags: { Name: 'reports', 'snapkeeper:policy': 'dialy' },
    availabilityZone,
  });
  return [
    { id: web.instanceId, name: 'web-1', tags: 'snapkeeper:policy=daily, boot + 1 data volume' },
    { id: db.instanceId, name: 'db-1', tags: 'snapkeeper:policy=daily, boot + 2 data volumes' },
    { id: shared, name: 'shared-scratch', tags: 'snapkeeper:policy=volumes' },
    { id: mistagged, name: 'reports', tags: 'snapkeeper:policy=dialy (misspelt: no policy takes it)' },
  ];
}
