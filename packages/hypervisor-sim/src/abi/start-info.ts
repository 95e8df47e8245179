/**
 * The PV `start_info` page of `xen/include/public/xen.h` (x86_64 layout, Xen 4.17): what the
 * domain builder hands a PV guest at boot, and where the guest finds its xenstore and console
 * rings (`docs/misc/xenstore-ring.txt`; `io/console.h`).
 *
 * ```
 * struct start_info {                       offset  size
 *     char magic[32];                       0       32    "xen-3.0-x86_64", NUL-terminated
 *     unsigned long nr_pages;               32      8
 *     unsigned long shared_info;            40      8     machine address
 *     uint32_t flags;                       48      4     SIF_*
 *     xen_pfn_t store_mfn;                  56      8     (4 bytes of padding before it)
 *     uint32_t store_evtchn;                64      4
 *     union {                               72      16
 *         struct { xen_pfn_t mfn;           72      8
 *                  uint32_t evtchn; } domU; 80      4
 *         struct { uint32_t info_off;       72      4
 *                  uint32_t info_size; } dom0; 76   4
 *     } console;
 *     unsigned long pt_base;                88      8
 *     unsigned long nr_pt_frames;           96      8
 *     unsigned long mfn_list;               104     8
 *     unsigned long mod_start;              112     8
 *     unsigned long mod_len;                120     8
 *     int8_t cmd_line[MAX_GUEST_CMDLINE];   128     1024  NUL-terminated
 *     unsigned long first_p2m_pfn;          1152    8
 *     unsigned long nr_p2m_frames;          1160    8
 * };                                        sizeof = 1168
 * ```
 *
 * In pvkit's translated guests `store_mfn` and `console.domU.mfn` hold GFNs.
 */
import type { Page, ReadonlyPage } from "../memory/page.js";
import type { Layout } from "./struct.js";

/** `sizeof(struct start_info)` on x86_64. */
export const START_INFO_SIZE = 1168;
/** `MAX_GUEST_CMDLINE`: bytes in `cmd_line`, including its NUL. */
export const MAX_GUEST_CMDLINE = 1024;
/** Bytes in `magic`, including its NUL. */
export const START_INFO_MAGIC_SIZE = 32;
/** The magic Xen writes for a 64-bit PV guest ("xen-<version>-<platform>"). */
export const XEN_START_INFO_MAGIC_X86_64 = "xen-3.0-x86_64";

/** Field layout of `struct start_info`; the console union appears as both of its variants. */
export const start_info = {
  magic: [0, 32],
  nr_pages: [32, 8],
  shared_info: [40, 8],
  flags: [48, 4],
  store_mfn: [56, 8],
  store_evtchn: [64, 4],
  "console.domU.mfn": [72, 8],
  "console.domU.evtchn": [80, 4],
  "console.dom0.info_off": [72, 4],
  "console.dom0.info_size": [76, 4],
  pt_base: [88, 8],
  nr_pt_frames: [96, 8],
  mfn_list: [104, 8],
  mod_start: [112, 8],
  mod_len: [120, 8],
  cmd_line: [128, MAX_GUEST_CMDLINE],
  first_p2m_pfn: [1152, 8],
  nr_p2m_frames: [1160, 8],
} as const satisfies Layout;

/** `SIF_*` flags of `start_info.flags`. */
export const SIF = {
  /** The domain is privileged. */
  SIF_PRIVILEGED: 1 << 0,
  /** The domain is the initial control domain (selects the dom0 console variant). */
  SIF_INITDOMAIN: 1 << 1,
  /** `mod_start` is a multiboot module. */
  SIF_MULTIBOOT_MOD: 1 << 2,
  /** `mod_start` is a PFN, not a virtual address. */
  SIF_MOD_START_PFN: 1 << 3,
  /** The tools understand a virtually mapped p2m list. */
  SIF_VIRT_P2M_4TOOLS: 1 << 4,
  /** Reserved for xen-pm options. */
  SIF_PM_MASK: 0xff << 8,
} as const;
export type SifName = keyof typeof SIF;

/** The `console` union: `domU` for ordinary guests, `dom0` when `SIF_INITDOMAIN` is set. */
export type StartInfoConsole =
  | { readonly kind: "domU"; readonly mfn: number; readonly evtchn: number }
  | { readonly kind: "dom0"; readonly info_off: number; readonly info_size: number };

/** A decoded `start_info`. Numbers are unsigned; addresses and frame numbers stay below 2^53. */
export interface StartInfo {
  readonly magic: string;
  readonly nr_pages: number;
  readonly shared_info: number;
  readonly flags: number;
  readonly store_mfn: number;
  readonly store_evtchn: number;
  readonly console: StartInfoConsole;
  readonly pt_base: number;
  readonly nr_pt_frames: number;
  readonly mfn_list: number;
  readonly mod_start: number;
  readonly mod_len: number;
  readonly cmd_line: string;
  readonly first_p2m_pfn: number;
  readonly nr_p2m_frames: number;
}

/** What `writeStartInfo` takes: every field but the store ring's is optional (0 / "" / domU). */
export type StartInfoInit = Partial<StartInfo> & Pick<StartInfo, "store_mfn" | "store_evtchn">;

const SCALARS = [
  "nr_pages",
  "shared_info",
  "flags",
  "store_mfn",
  "store_evtchn",
  "pt_base",
  "nr_pt_frames",
  "mfn_list",
  "mod_start",
  "mod_len",
  "first_p2m_pfn",
  "nr_p2m_frames",
] as const;

/**
 * Writes a complete `start_info` at `offset` (default 0) of `page`: the 1168 bytes are zeroed
 * first, so padding and unset fields read as 0. `magic` defaults to "xen-3.0-x86_64".
 * @throws RangeError if a number does not fit its field, `magic` is over 31 bytes or `cmd_line`
 *   over 1023 bytes (both need their NUL), a string is not ASCII, the struct runs past the page,
 *   or the console variant disagrees with `SIF_INITDOMAIN` in `flags`.
 */
export function writeStartInfo(page: Page, fields: StartInfoInit, offset = 0): void {
  checkOffset(offset);
  const flags = fields.flags ?? 0;
  const console: StartInfoConsole = fields.console ?? { kind: "domU", mfn: 0, evtchn: 0 };
  const dom0 = (flags & SIF.SIF_INITDOMAIN) !== 0;
  if ((console.kind === "dom0") !== dom0) {
    throw new RangeError(
      `start_info: console variant ${console.kind} disagrees with SIF_INITDOMAIN=${dom0 ? 1 : 0}`,
    );
  }
  const magic = encodeCString(
    fields.magic ?? XEN_START_INFO_MAGIC_X86_64,
    START_INFO_MAGIC_SIZE,
    "magic",
  );
  const cmdLine = encodeCString(fields.cmd_line ?? "", MAX_GUEST_CMDLINE, "cmd_line");
  // Validate every number before touching the page so a bad field leaves the page as it was.
  const values: [readonly [number, number], number][] = SCALARS.map((k) => [
    start_info[k],
    fields[k] ?? 0,
  ]);
  if (console.kind === "domU") {
    values.push(
      [start_info["console.domU.mfn"], console.mfn],
      [start_info["console.domU.evtchn"], console.evtchn],
    );
  } else {
    values.push(
      [start_info["console.dom0.info_off"], console.info_off],
      [start_info["console.dom0.info_size"], console.info_size],
    );
  }
  for (const [[off, width], v] of values) checkFits(v, width, off);
  page.fill(0, offset, START_INFO_SIZE);
  page.write(offset + start_info.magic[0], magic);
  page.write(offset + start_info.cmd_line[0], cmdLine);
  for (const [[off, width], v] of values) {
    if (width === 8) page.setU64(offset + off, v);
    else page.setU32(offset + off, v);
  }
}

/**
 * Reads the `start_info` at `offset` (default 0) of `page`. The console union is decoded as the
 * `dom0` variant when `flags` has `SIF_INITDOMAIN`, else as `domU`. Strings stop at their first
 * NUL (or the end of the field).
 * @throws RangeError if a u64 field is 2^53 or more, or the struct runs past the page.
 */
export function readStartInfo(page: ReadonlyPage, offset = 0): StartInfo {
  checkOffset(offset);
  // One private copy, then decode from it: a guest writing concurrently cannot tear the result.
  const raw = page.read(offset, START_INFO_SIZE);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const u = ([off, width]: readonly [number, number]): number => {
    if (width === 4) return dv.getUint32(off, true);
    const v = dv.getBigUint64(off, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER))
      throw new RangeError(`start_info: u64 at +${off} exceeds 2^53: ${v}`);
    return Number(v);
  };
  const flags = u(start_info.flags);
  const console: StartInfoConsole =
    (flags & SIF.SIF_INITDOMAIN) !== 0
      ? {
          kind: "dom0",
          info_off: u(start_info["console.dom0.info_off"]),
          info_size: u(start_info["console.dom0.info_size"]),
        }
      : {
          kind: "domU",
          mfn: u(start_info["console.domU.mfn"]),
          evtchn: u(start_info["console.domU.evtchn"]),
        };
  return {
    magic: decodeCString(raw, start_info.magic),
    nr_pages: u(start_info.nr_pages),
    shared_info: u(start_info.shared_info),
    flags,
    store_mfn: u(start_info.store_mfn),
    store_evtchn: u(start_info.store_evtchn),
    console,
    pt_base: u(start_info.pt_base),
    nr_pt_frames: u(start_info.nr_pt_frames),
    mfn_list: u(start_info.mfn_list),
    mod_start: u(start_info.mod_start),
    mod_len: u(start_info.mod_len),
    cmd_line: decodeCString(raw, start_info.cmd_line),
    first_p2m_pfn: u(start_info.first_p2m_pfn),
    nr_p2m_frames: u(start_info.nr_p2m_frames),
  };
}

function checkOffset(offset: number): void {
  if (!Number.isInteger(offset) || offset < 0 || offset + START_INFO_SIZE > 4096) {
    throw new RangeError(`start_info at +${offset} runs outside the 4096-byte page`);
  }
}

function checkFits(value: number, width: number, off: number): void {
  const max = width === 8 ? Number.MAX_SAFE_INTEGER : 0xffffffff;
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(
      `start_info: value ${value} does not fit the ${width}-byte field at +${off}`,
    );
  }
}

function encodeCString(s: string, size: number, what: string): Uint8Array {
  if (s.length > size - 1)
    throw new RangeError(
      `start_info.${what}: ${s.length} bytes, at most ${size - 1} fit with the NUL`,
    );
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0 || c > 0x7f)
      throw new RangeError(`start_info.${what}: character ${c} at ${i} is NUL or not ASCII`);
    out[i] = c;
  }
  return out;
}

function decodeCString(raw: Uint8Array, [off, size]: readonly [number, number]): string {
  const field = raw.subarray(off, off + size);
  const nul = field.indexOf(0);
  return String.fromCharCode(...field.subarray(0, nul === -1 ? size : nul));
}
