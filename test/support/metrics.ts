import type { MetricDatum, MetricsSink } from '#handlers/metrics.ts';

/** A sink that keeps what handlers publish, for tests to read instead of parsing EMF from stdout. */
export function metricsRecorder(): { sink: MetricsSink; data: MetricDatum[]; value(name: string): number[] } {
  const data: MetricDatum[] = [];
  return {
    sink: { publish: (published) => void data.push(...published) },
    data,
    value: (name) => data.filter((d) => d.name === name).flatMap((d) => d.values),
  };
}
