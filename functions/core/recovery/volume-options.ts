import { z } from 'zod';
import type { SnapshotRecord } from '#core/model/generation.ts';
import type { FieldProblem } from './request.ts';

/** The EBS volume types CreateVolume accepts. */
export const VOLUME_TYPES = ['gp2', 'gp3', 'io1', 'io2', 'st1', 'sc1', 'standard'] as const;
export type VolumeType = (typeof VOLUME_TYPES)[number];

type Range = readonly [min: number, max: number];

interface TypeLimits {
  sizeGiB: Range;
  /** Absent: EC2 refuses Iops for the type. */
  iops?: Range;
  iopsRequired?: boolean;
  /** Absent: EC2 refuses Throughput for the type. */
  throughput?: Range;
}

/**
 * What CreateVolume accepts per volume type, from the EC2 API Reference's CreateVolume page
 * (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateVolume.html: Iops "gp3: 3,000 - 80,000,
 * io1: 100 - 64,000, io2: 100 - 256,000 IOPS", required for io1 and io2 and omitted for all types but gp3, io1
 * and io2; Throughput "125 - 2000 MiB/s", gp3 only; Size "gp2: 1 - 16,384, gp3: 1 - 65,536, io1: 4 - 16,384,
 * io2: 4 - 65,536, st1 and sc1: 125 - 16,384, standard: 1 - 1024 GiB", and no smaller than the snapshot), as
 * the model of the pinned @aws-sdk/client-ec2 documents them. A dry run checks these so that it refuses what
 * the real CreateVolume would refuse, before anything is created.
 */
const LIMITS: Record<VolumeType, TypeLimits> = {
  gp2: { sizeGiB: [1, 16_384] },
  gp3: { sizeGiB: [1, 65_536], iops: [3_000, 80_000], throughput: [125, 2_000] },
  io1: { sizeGiB: [4, 16_384], iops: [100, 64_000], iopsRequired: true },
  io2: { sizeGiB: [4, 65_536], iops: [100, 256_000], iopsRequired: true },
  st1: { sizeGiB: [125, 16_384] },
  sc1: { sizeGiB: [125, 16_384] },
  standard: { sizeGiB: [1, 1_024] },
};

/**
 * EC2's `VolumeInitializationRate`, the Provisioned Rate for Volume Initialization: "Valid range: 100 - 300
 * MiB/s" (CreateVolume, EC2 API Reference), for volumes created from snapshots.
 */
export const INITIALIZATION_RATE: Range = [100, 300];

/** The request fields that shape a new volume, shared by every runbook that creates volumes. */
export const volumeOptionFields = {
  volumeType: z.enum(VOLUME_TYPES, { error: `must be one of ${VOLUME_TYPES.join(', ')}` }).optional(),
  iops: z.number().int().positive().optional(),
  throughput: z.number().int().positive().optional(),
  sizeGiB: z.number().int().positive().optional(),
  initializationRate: z
    .number()
    .int()
    .min(INITIALIZATION_RATE[0], { error: rateMessage })
    .max(INITIALIZATION_RATE[1], { error: rateMessage })
    .optional(),
  kmsKeyId: z.string().min(1).optional(),
};

function rateMessage(): string {
  return `must be ${INITIALIZATION_RATE[0]}-${INITIALIZATION_RATE[1]} MiB/s, EC2's range for a volume initialization rate`;
}

export type VolumeOptionRequest = {
  [K in keyof typeof volumeOptionFields]?: z.output<(typeof volumeOptionFields)[K]>;
};

/** The new volume's shape: what the request asks, else the source volume's. */
export interface VolumeShape {
  volumeType?: string;
  iops?: number;
  throughput?: number;
  sizeGiB?: number;
  /** EC2's `VolumeInitializationRate`, MiB/s. */
  initializationRate?: number;
  kmsKeyId?: string;
}

/**
 * The request's options over the source volume's. Another volume type than the source's takes none of the
 * source's IOPS or throughput (they belong to its type); the size is the snapshot's unless asked for.
 */
export function volumeShape(request: VolumeOptionRequest, source: SnapshotRecord): VolumeShape {
  const sameType = !request.volumeType || request.volumeType === source.volumeType;
  return {
    volumeType: request.volumeType ?? source.volumeType,
    iops: request.iops ?? (sameType ? source.iops : undefined),
    throughput: request.throughput ?? (sameType ? source.throughput : undefined),
    sizeGiB: request.sizeGiB,
    initializationRate: request.initializationRate,
    kmsKeyId: request.kmsKeyId,
  };
}

const n = (value: number) => value.toLocaleString('en-US');
const range = ([min, max]: Range) => `${n(min)}-${n(max)}`;

/**
 * What CreateVolume would refuse of this shape, each problem on the request field to change. Fields the
 * request left out came from the source volume; a problem with those still names the field, whose value the
 * request can then give.
 */
export function volumeShapeProblems(shape: VolumeShape, source: SnapshotRecord): FieldProblem[] {
  const type = shape.volumeType as VolumeType | undefined;
  const limits = type ? LIMITS[type] : undefined;
  if (!type || !limits) return [];
  const problems: FieldProblem[] = [];
  if (shape.iops === undefined && limits.iopsRequired) {
    problems.push({
      field: 'iops',
      message: `${type} needs provisioned IOPS: give {iops} (${range(limits.iops as Range)} for ${type})`,
    });
  }
  if (shape.iops !== undefined && !limits.iops) {
    const why = type === 'gp2' ? 'its IOPS follow its size' : 'EC2 takes no IOPS for it';
    problems.push({
      field: 'iops',
      message: `cannot be set for ${type} (${why}); leave {iops} out, or choose {volumeType} gp3, io1 or io2`,
    });
  } else if (shape.iops !== undefined && limits.iops && outside(shape.iops, limits.iops)) {
    problems.push({
      field: 'iops',
      message: `${n(shape.iops)} is outside ${type}'s range of ${range(limits.iops)} IOPS`,
    });
  }
  if (shape.throughput !== undefined && !limits.throughput) {
    problems.push({
      field: 'throughput',
      message: `cannot be set for ${type}: only gp3 takes a throughput; leave {throughput} out, or choose {volumeType} gp3`,
    });
  } else if (
    shape.throughput !== undefined &&
    limits.throughput &&
    outside(shape.throughput, limits.throughput)
  ) {
    problems.push({
      field: 'throughput',
      message: `${n(shape.throughput)} MiB/s is outside ${type}'s range of ${range(limits.throughput)} MiB/s`,
    });
  }
  const size = shape.sizeGiB ?? source.sizeGiB;
  if (shape.sizeGiB !== undefined && source.sizeGiB !== undefined && shape.sizeGiB < source.sizeGiB) {
    problems.push({
      field: 'sizeGiB',
      message: `${n(shape.sizeGiB)} GiB is smaller than the snapshot (${n(source.sizeGiB)} GiB); give ${n(source.sizeGiB)} or more, or leave {sizeGiB} out`,
    });
  } else if (size !== undefined && outside(size, limits.sizeGiB)) {
    problems.push({
      field: shape.sizeGiB === undefined ? 'volumeType' : 'sizeGiB',
      message: `${n(size)} GiB is outside ${type}'s sizes of ${range(limits.sizeGiB)} GiB`,
    });
  }
  return problems;
}

function outside(value: number, [min, max]: Range): boolean {
  return value < min || value > max;
}
