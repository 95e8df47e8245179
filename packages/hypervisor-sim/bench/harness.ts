/**
 * A tiny throughput harness: runs `body(n)` for growing n until a batch takes ≥ `minMs`, then
 * takes `samples` timed batches and reports the median rate. `body` returns the operations done.
 */
export interface BenchResult {
  name: string;
  /** Median operations per second over the samples. */
  opsPerSec: number;
  samples: number[];
}

export function bench(
  name: string,
  body: (n: number) => number,
  opts: { minMs?: number; samples?: number } = {},
): BenchResult {
  const minMs = opts.minMs ?? 200;
  const samples = opts.samples ?? 7;
  let n = 1000;
  for (;;) {
    const t0 = performance.now();
    body(n);
    const ms = performance.now() - t0;
    if (ms >= minMs / 2) break;
    n *= 2;
  }
  const rates: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    const ops = body(n);
    const s = (performance.now() - t0) / 1000;
    rates.push(ops / s);
  }
  rates.sort((a, b) => a - b);
  return { name, opsPerSec: rates[Math.floor(rates.length / 2)]!, samples: rates };
}

export function fmt(r: BenchResult): string {
  const v = r.opsPerSec;
  const s =
    v >= 1e6
      ? `${(v / 1e6).toFixed(2)} M/s`
      : v >= 1e3
        ? `${(v / 1e3).toFixed(1)} k/s`
        : `${v.toFixed(0)} /s`;
  return `${r.name.padEnd(58)} ${s.padStart(12)}`;
}
