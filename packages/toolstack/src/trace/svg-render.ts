/**
 * Draws a Chrome Trace Event Format document (chrome-format.ts; what `chromeTraceJson` writes
 * and Perfetto opens) as an SVG picture, deterministically: the same trace and options give the
 * same bytes (no clock, no randomness, coordinates rounded to 0.01 px). Pure string output.
 *
 * What it draws (the tracks trace-layout.ts builds, as Perfetto's timeline shows them):
 * - a band per process, named by its "process_name", and under it a track per thread named by
 *   its "thread_name", then the process's counter tracks (a counter named after a thread, as a
 *   request track's occupancy, right below that thread, labelled by its series, indented);
 * - slices ("X", "B"/"E", async "b"/"e") as boxes, nested slices a row below their parent,
 *   coloured by name, labelled where the name fits (cut with "…" where only part fits), each
 *   with a `<title>` tooltip (name, ts, dur, args);
 * - instants ("i"/"I") as ticks (a small downward triangle) on their track;
 * - flows ("s" → "f") as arrows from the end of the slice the start binds to, to the start of
 *   the slice the end binds to;
 * - counters ("C") as step graphs, scaled to the series' largest value in the window;
 * - a time axis on top and a legend of the names drawn, with their counts, below.
 *
 * Colours go to the names drawn in sorted order; past 12 names they repeat (the legend and the
 * tooltips still tell them apart). Only tracks with something in the window are drawn (a
 * counter: a value other than 0). Every drawn element carries a class
 * (`slice`, `instant`, `flow`, `counter`, `track`, `process`, `legend-item`), so a test can
 * count them.
 */
import type { ChromeTrace } from "./chrome-format.js";
import { type LaidSlice, type LaidTrack, layoutTrace } from "./trace-layout.js";

/** Options of {@link renderTraceSvg}. */
export interface TraceSvgOptions {
  /** Window start, in the trace's `ts` unit (µs). Default: the trace's earliest event. */
  readonly from?: number;
  /** Window end, µs. Default: the trace's latest event end. */
  readonly to?: number;
  /** Picture width, px, at least 400. Default 1200. */
  readonly width?: number;
  /** A title line above the timeline. Default: none. */
  readonly title?: string;
  /**
   * The time axis' caption. Default: for a pvkit trace on the sequence timeline
   * (`metadata.timeline` "sequence") the position in the recording, else "ts (µs)".
   */
  readonly axisLabel?: string;
}

const MARGIN = 12;
const LABEL_W = 190;
const ROW_H = 18;
const SLICE_H = 15;
const PAD = 4;
const COUNTER_H = 30;
const PROC_H = 20;
const AXIS_H = 30;
const FONT = 11;
/** Advance of one character of the monospace font, px (0.6 em). */
const CHAR_W = FONT * 0.6;
const FONT_FAMILY = "'DejaVu Sans Mono', Menlo, Consolas, monospace";

/** Tableau 10 and two more: distinct hues, readable under white or near-black text. */
const PALETTE = [
  "#4e79a7",
  "#f28e2b",
  "#e15759",
  "#76b7b2",
  "#59a14f",
  "#edc948",
  "#b07aa1",
  "#ff9da7",
  "#9c755f",
  "#bab0ac",
  "#86bcb6",
  "#d37295",
];

/** `n` rounded to 0.01, as the shortest decimal (no "-0"). */
function px(n: number): string {
  const r = Math.round(n * 100) / 100;
  return String(r === 0 ? 0 : r);
}

/** A value for a label: 12 significant digits, so 0.1 + 0.2 shows as 0.3. */
function shown(n: number): string {
  return String(Number(n.toPrecision(12)));
}

function esc(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

/** Black or white text over `hex`, whichever contrasts more (relative luminance). */
function textOn(hex: string): string {
  const c = [1, 3, 5].map((i) => {
    const v = Number.parseInt(hex.slice(i, i + 2), 16) / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  });
  const lum = 0.2126 * c[0]! + 0.7152 * c[1]! + 0.0722 * c[2]!;
  return lum > 0.32 ? "#1b1b1b" : "#ffffff";
}

/** `text` cut to `w` px of the font: whole, or a prefix and "…", or "" if under 3 characters fit. */
function fitLabel(text: string, w: number): string {
  const n = Math.floor(w / CHAR_W);
  if (n >= text.length) return text;
  return n >= 3 ? `${text.slice(0, n - 1)}…` : "";
}

/** A tooltip: the name, where it sits and its args (cut at 300 characters). */
function tooltip(name: string, where: string, args: unknown): string {
  const a = args === undefined ? "" : JSON.stringify(args);
  const shortArgs = a.length > 300 ? `${a.slice(0, 299)}…` : a;
  return `<title>${esc(`${name}\n${where}${shortArgs === "" ? "" : `\n${shortArgs}`}`)}</title>`;
}

/** Tick spacing for the axis: 1, 2 or 5 × 10^k, about every 90 px. */
function tickStep(span: number, plotW: number): number {
  const raw = span / Math.max(1, Math.floor(plotW / 90));
  const pow = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? 10 * pow;
}

/**
 * Renders `trace` as SVG (see the module comment), the window `from`–`to` (µs) of it.
 * @throws RangeError if `width` is under 400 or not finite, or the window is empty (`from` ≥
 *   `to`; a trace whose events all share one `ts` needs an explicit window around it).
 */
export function renderTraceSvg(trace: ChromeTrace, opts: TraceSvgOptions = {}): string {
  const width = opts.width ?? 1200;
  if (!Number.isFinite(width) || width < 400)
    throw new RangeError(`width must be at least 400 px, got ${width}`);
  const layout = layoutTrace(trace);
  const from = opts.from ?? layout.start;
  const to = opts.to ?? layout.end;
  if (!(Number.isFinite(from) && Number.isFinite(to) && from < to))
    throw new RangeError(`the window ${from}–${to} µs is empty`);
  const plotX = MARGIN + LABEL_W;
  const plotW = width - plotX - MARGIN;
  const X = (t: number): number =>
    plotX + ((Math.min(Math.max(t, from), to) - from) / (to - from)) * plotW;
  const inWindow = (t: number): boolean => t >= from && t <= to;
  const sliceShown = (s: LaidSlice): boolean => s.start <= to && s.end >= from;

  const flows = layout.flows.filter((f) => inWindow(f.from.ts) && inWindow(f.to.ts));
  const flowTracks = new Set(flows.flatMap((f) => [f.from.track, f.to.track]));
  const counterAt = (
    t: LaidTrack,
  ): { v0: number | undefined; pts: { ts: number; value: number }[] } => {
    let v0: number | undefined;
    for (const s of t.samples) if (s.ts <= from) v0 = s.value;
    return { v0, pts: t.samples.filter((s) => s.ts > from && s.ts <= to) };
  };
  const shownTrack = (t: LaidTrack): boolean => {
    if (t.kind === "counter") {
      const c = counterAt(t);
      return (c.v0 !== undefined && c.v0 !== 0) || c.pts.some((p) => p.value !== 0);
    }
    return t.slices.some(sliceShown) || t.instants.some((i) => inWindow(i.ts)) || flowTracks.has(t);
  };
  const rowsOf = (t: LaidTrack): number =>
    t.slices.reduce((m, s) => (sliceShown(s) ? Math.max(m, s.row + 1) : m), 1);
  const trackH = (t: LaidTrack): number =>
    t.kind === "counter" ? COUNTER_H : PAD * 2 + rowsOf(t) * ROW_H;

  // Colours: the names drawn, sorted, take the palette in turn.
  const counts = new Map<string, number>();
  const groups = [
    ...(layout.global ? [{ name: "global", tracks: [layout.global] }] : []),
    ...layout.processes,
  ].map((p) => ({ name: p.name, tracks: p.tracks.filter(shownTrack) }));
  for (const g of groups)
    for (const t of g.tracks) {
      for (const s of t.slices.filter(sliceShown))
        counts.set(s.name, (counts.get(s.name) ?? 0) + 1);
      for (const i of t.instants.filter((x) => inWindow(x.ts)))
        counts.set(i.name, (counts.get(i.name) ?? 0) + 1);
    }
  const names = [...counts.keys()].sort();
  const colour = new Map(names.map((n, i) => [n, PALETTE[i % PALETTE.length]!]));

  const out: string[] = [];
  let y = MARGIN;
  if (opts.title !== undefined) {
    out.push(
      `<text class="title" x="${MARGIN}" y="${px(y + 14)}" font-size="14" font-weight="bold">${esc(opts.title)}</text>`,
    );
    y += 22;
  }
  const axisLabel =
    opts.axisLabel ??
    (trace.metadata?.timeline === "sequence"
      ? "position in the recording (ts, µs; each slice's virtual time is in its args as vt_ns)"
      : "ts (µs)");
  out.push(
    `<text class="axis-label" x="${plotX}" y="${px(y + 10)}" fill="#555">${esc(axisLabel)}</text>`,
  );
  y += 14;
  const axisY = y + AXIS_H - 14;
  const step = tickStep(to - from, plotW);
  const ticks: number[] = [];
  for (let k = Math.ceil(from / step); k * step <= to; k++) ticks.push(k * step);
  const body: string[] = [];
  const tickLines = ticks.map(
    (t) =>
      `<text x="${px(X(t))}" y="${px(axisY - 4)}" text-anchor="middle" fill="#555">${shown(t)}</text>`,
  );
  out.push(
    `<g class="axis">`,
    ...tickLines,
    `<line x1="${plotX}" y1="${px(axisY)}" x2="${px(plotX + plotW)}" y2="${px(axisY)}" stroke="#888"/>`,
    "</g>",
  );
  y = axisY + 6;
  const top = y;

  const trackY = new Map<LaidTrack, number>();
  for (const g of groups) {
    if (g.tracks.length === 0) continue;
    body.push(
      `<g class="process"><rect x="${MARGIN}" y="${px(y)}" width="${px(width - 2 * MARGIN)}" height="${PROC_H}" fill="#e8eaf0"/><text x="${MARGIN + 6}" y="${px(y + 14)}" font-weight="bold">${esc(g.name)}</text></g>`,
    );
    y += PROC_H;
    let above: LaidTrack | undefined;
    for (const t of g.tracks) {
      // A counter right below the thread it is named after is labelled by its series, indented.
      const sub =
        t.kind === "counter" && above !== undefined && t.name.startsWith(`${above.name} `)
          ? t.name.slice(above.name.length + 1)
          : undefined;
      if (t.kind !== "counter") above = t;
      const h = trackH(t);
      trackY.set(t, y);
      body.push(`<g class="track">`);
      body.push(
        `<rect x="${MARGIN}" y="${px(y)}" width="${px(width - 2 * MARGIN)}" height="${px(h)}" fill="#ffffff" stroke="#eceef2"/>`,
      );
      body.push(
        sub === undefined
          ? `<text class="track-label" x="${MARGIN + 14}" y="${px(y + Math.min(h, ROW_H + PAD * 2) / 2 + 4)}">${esc(fitLabel(t.name, LABEL_W - 20))}</text>`
          : `<text class="track-label" x="${MARGIN + 28}" y="${px(y + Math.min(h, ROW_H + PAD * 2) / 2 + 4)}" fill="#555">${esc(fitLabel(sub, LABEL_W - 34))}<title>${esc(t.name)}</title></text>`,
      );
      if (t.kind === "counter") body.push(counter(t, y, h));
      else {
        for (const s of t.slices.filter(sliceShown)) body.push(sliceBox(s, y));
        for (const i of t.instants.filter((x) => inWindow(x.ts))) {
          const x = X(i.ts);
          const c = colour.get(i.name)!;
          body.push(
            `<path class="instant" d="M${px(x - 4)} ${px(y + 1)}H${px(x + 4)}L${px(x)} ${px(y + 8)}Z" fill="${c}" stroke="#333" stroke-width="0.6">${tooltip(i.name, `ts ${shown(i.ts)} µs`, i.args)}</path>`,
          );
        }
      }
      body.push("</g>");
      y += h;
    }
    y += 4;
  }
  const flowPaths = flows.map((f) => {
    const end = (e: typeof f.from, side: "start" | "end"): [number, number] => {
      const ty = trackY.get(e.track)!;
      const s = e.slice;
      const yy = s === undefined ? ty + PAD + SLICE_H / 2 : ty + PAD + s.row * ROW_H + SLICE_H / 2;
      return [X(s === undefined ? e.ts : side === "end" ? s.end : s.start), yy];
    };
    const [x1, y1] = end(f.from, "end");
    const [x2, y2] = end(f.to, "start");
    const dx = Math.max(12, Math.abs(x2 - x1) / 2);
    return `<path class="flow" d="M${px(x1)} ${px(y1)}C${px(x1 + dx)} ${px(y1)} ${px(x2 - dx)} ${px(y2)} ${px(x2)} ${px(y2)}" fill="none" stroke="#30343c" stroke-width="1.1" marker-end="url(#arrow)">${tooltip(f.name, `flow ts ${shown(f.from.ts)} → ${shown(f.to.ts)} µs`, undefined)}</path>`;
  });
  const bottom = y;

  // Legend: the names drawn, their counts, and the flows.
  const legend: string[] = [];
  let lx = MARGIN;
  let ly = bottom + 10;
  const item = (w: number): void => {
    if (lx + w > width - MARGIN && lx > MARGIN) {
      lx = MARGIN;
      ly += 18;
    }
  };
  for (const n of names) {
    const text = `${n} ×${counts.get(n)}`;
    const w = 16 + text.length * CHAR_W + 14;
    item(w);
    legend.push(
      `<g class="legend-item"><rect x="${px(lx)}" y="${px(ly)}" width="11" height="11" fill="${colour.get(n)}"/><text x="${px(lx + 16)}" y="${px(ly + 10)}">${esc(text)}</text></g>`,
    );
    lx += w;
  }
  const flowNames = new Map<string, number>();
  for (const f of flows) flowNames.set(f.name, (flowNames.get(f.name) ?? 0) + 1);
  for (const [n, c] of [...flowNames].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const text = `${n} (flow) ×${c}`;
    const w = 28 + text.length * CHAR_W + 14;
    item(w);
    legend.push(
      `<g class="legend-item"><path d="M${px(lx)} ${px(ly + 6)}H${px(lx + 18)}" stroke="#30343c" stroke-width="1.1" marker-end="url(#arrow)"/><text x="${px(lx + 26)}" y="${px(ly + 10)}">${esc(text)}</text></g>`,
    );
    lx += w;
  }
  const height = (legend.length > 0 ? ly + 18 : bottom) + MARGIN;

  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${px(width)}" height="${px(height)}" viewBox="0 0 ${px(width)} ${px(height)}" font-family="${FONT_FAMILY}" font-size="${FONT}">`,
    `<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10Z" fill="#30343c"/></marker>`,
    `<clipPath id="plot"><rect x="${plotX}" y="${px(top)}" width="${px(plotW)}" height="${px(Math.max(0, bottom - top))}"/></clipPath></defs>`,
    `<rect width="100%" height="100%" fill="#fafbfc"/>`,
    ...out,
    ...ticks.map(
      (t) =>
        `<line x1="${px(X(t))}" y1="${px(top)}" x2="${px(X(t))}" y2="${px(bottom)}" stroke="#dde1e8" stroke-width="0.6"/>`,
    ),
    ...body,
    `<g clip-path="url(#plot)">`,
    ...flowPaths,
    "</g>",
    ...legend,
    "</svg>",
    "",
  ].join("\n");

  function sliceBox(s: LaidSlice, ty: number): string {
    const x0 = X(s.start);
    const w = Math.max(1, X(s.end) - x0);
    const yy = ty + PAD + s.row * ROW_H;
    const c = colour.get(s.name)!;
    const label = fitLabel(s.name, w - 4);
    const where = `ts ${shown(s.start)} µs, dur ${shown(s.end - s.start)} µs${s.open ? " (never ended)" : ""}`;
    const text =
      label === ""
        ? ""
        : `<text x="${px(x0 + 2)}" y="${px(yy + SLICE_H - 4)}" fill="${textOn(c)}">${esc(label)}</text>`;
    const shape = s.async ? ` rx="4"` : "";
    return `<rect class="slice" x="${px(x0)}" y="${px(yy)}" width="${px(w)}" height="${SLICE_H}"${shape} fill="${c}"${s.async ? ` fill-opacity="0.75"` : ""}>${tooltip(s.name, where, s.args)}</rect>${text}`;
  }

  function counter(t: LaidTrack, ty: number, h: number): string {
    const { v0, pts } = counterAt(t);
    const values = [...(v0 === undefined ? [] : [v0]), ...pts.map((p) => p.value)];
    const max = values.reduce((m, v) => Math.max(m, v), 0);
    const min = values.reduce((m, v) => Math.min(m, v), 0);
    const Y = (v: number): number => ty + h - 3 - ((v - min) / (max - min || 1)) * (h - 8);
    const endX = X(Math.min(to, layout.end));
    let x = v0 === undefined ? X(pts[0]!.ts) : X(from);
    let d = `M${px(x)} ${px(Y(min))}V${px(Y(v0 ?? pts[0]!.value))}`;
    for (const p of pts) {
      x = X(p.ts);
      d += `H${px(x)}V${px(Y(p.value))}`;
    }
    d += `H${px(Math.max(x, endX))}V${px(Y(min))}Z`;
    const tip = tooltip(
      t.name,
      `${pts.length} change(s) in the window; ${shown(min)}–${shown(max)}`,
      undefined,
    );
    return `<path class="counter" d="${d}" fill="#4e79a7" fill-opacity="0.25" stroke="#4e79a7" stroke-width="1">${tip}</path><text x="${px(plotX + 3)}" y="${px(ty + 10)}" font-size="9" fill="#555">${shown(max)}</text>`;
  }
}
