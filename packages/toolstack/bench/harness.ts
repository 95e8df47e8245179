/**
 * An async throughput harness: runs `body(n)` for growing n until a batch takes ≥ `minMs`, then
 * takes `samples` timed batches and reports the median rate. `body` returns the operations done.
 */
export interface BenchResult {
  readonly name: string;
  /** Median operations per second over the samples. */
  readonly opsPerSec: number;
  readonly samples: readonly number[];
}

export async function bench(
  name: string,
  body: (n: number) => Promise<number>,
  opts: { minMs?: number; samples?: number; start?: number } = {},
): Promise<BenchResult> {
  const minMs = opts.minMs ?? 300;
  const samples = opts.samples ?? 7;
  let n = opts.start ?? 100;
  for (;;) {
    const t0 = performance.now();
    await body(n);
    if (performance.now() - t0 >= minMs / 2) break;
    n *= 2;
  }
  const rates: number[] = [];
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now();
    const ops = await body(n);
    rates.push(ops / ((performance.now() - t0) / 1000));
  }
  rates.sort((a, b) => a - b);
  return { name, opsPerSec: rates[Math.floor(rates.length / 2)]!, samples: rates };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

export function fmt(r: BenchResult): string {
  const v = r.opsPerSec;
  const s =
    v >= 1e6
      ? `${(v / 1e6).toFixed(2)} M/s`
      : v >= 1e3
        ? `${(v / 1e3).toFixed(1)} k/s`
        : `${v.toFixed(0)} /s`;
  return `${r.name.padEnd(62)} ${s.padStart(12)}`;
}
