import { z } from 'zod';
import { didYouMean } from './spelling.ts';

/**
 * The AWS Regions snapkeeper accepts: the commercial (aws), GovCloud (aws-us-gov) and China (aws-cn)
 * partitions, as of December 2026. A fixed list rather than a pattern because a well-formed but unknown
 * id such as "us-east-9" otherwise fails far from the config (a DNS error in AWS, an XML parse error from
 * an emulator). A Region AWS opens later needs one line here.
 */
export const AWS_REGIONS = [
  'af-south-1',
  'ap-east-1',
  'ap-east-2',
  'ap-northeast-1',
  'ap-northeast-2',
  'ap-northeast-3',
  'ap-south-1',
  'ap-south-2',
  'ap-southeast-1',
  'ap-southeast-2',
  'ap-southeast-3',
  'ap-southeast-4',
  'ap-southeast-5',
  'ap-southeast-6',
  'ap-southeast-7',
  'ca-central-1',
  'ca-west-1',
  'eu-central-1',
  'eu-central-2',
  'eu-north-1',
  'eu-south-1',
  'eu-south-2',
  'eu-west-1',
  'eu-west-2',
  'eu-west-3',
  'il-central-1',
  'me-central-1',
  'me-south-1',
  'mx-central-1',
  'sa-east-1',
  'us-east-1',
  'us-east-2',
  'us-west-1',
  'us-west-2',
  'us-gov-east-1',
  'us-gov-west-1',
  'cn-north-1',
  'cn-northwest-1',
] as const;

/** Why `value` is not a Region snapkeeper knows, naming the likely one; undefined when it is one. */
export function regionProblem(value: string): string | undefined {
  if ((AWS_REGIONS as readonly string[]).includes(value)) return undefined;
  const hint = didYouMean(value, AWS_REGIONS);
  if (hint) return `not an AWS Region id: "${value}"${hint}; write it like "us-east-1" or "eu-central-1"`;
  return `not an AWS Region id: "${value}"; use one of ${AWS_REGIONS.join(', ')}`;
}

/**
 * The zod schema of a Region id, for every boundary that takes one (config, restore request, copy message).
 * A string with a check rather than an enum, so the parsed type stays `string` for callers; the JSON Schema
 * still lists the Regions for editors.
 */
export const awsRegion = z
  .string()
  .superRefine((value, ctx) => {
    const problem = regionProblem(value);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  })
  .meta({ enum: [...AWS_REGIONS] });
