/**
 * How a vbd names its storage, from the backend keys libxl writes (`type`, `params`, `mode`;
 * toolstack's `VbdSpec.type` / `params` / `mode`):
 *
 * ```
 * params                         type              storage
 * "" (libxl's default)           any               memory, DEFAULT_MEMORY_BYTES, 512-byte sectors
 * "memory:<bytes>[:<sector>]"    any               memory of <bytes> (sector 512 or 4096)
 * "<path>"                       "file" | "phy"    the raw image <path> (must exist)
 *                                | "raw"
 * "<path>"                       "cow"             copy-on-write in memory over <path> opened
 *                                                  read-only (the image is never written)
 * mode "r"                       (any of these)    wrapped read-only (writes refused)
 * ```
 *
 * A test or program that wants something else passes its own `storage` function to blkback.
 */
import { CowStorage } from "./cow-storage.js";
import { FileStorage } from "./file-storage.js";
import { MemoryStorage } from "./memory-storage.js";
import { ReadOnlyStorage } from "./read-only-storage.js";
import { type ClockHolder, StorageError, type Storage } from "./storage.js";

/** Size of the memory disk of a vbd with empty `params`: 64 MiB (sparse, so free until written). */
export const DEFAULT_MEMORY_BYTES = 64 * 1024 * 1024;

/** The backend keys that name a storage. */
export interface StorageKeys {
  readonly type?: string | undefined;
  readonly params?: string | undefined;
  readonly mode?: string | undefined;
}

/**
 * Opens the storage `keys` name (see the file header).
 * @throws StorageError EINVAL for a spec it cannot parse; the fs error for a missing file.
 */
export async function openStorage(
  keys: StorageKeys,
  opts: { holdClock?: ClockHolder } = {},
): Promise<Storage> {
  const params = keys.params ?? "";
  const readOnly = keys.mode !== undefined && !keys.mode.includes("w");
  let s: Storage;
  if (params === "") s = new MemoryStorage({ bytes: DEFAULT_MEMORY_BYTES });
  else if (params.startsWith("memory:")) {
    const m = /^memory:(\d+)(?::(512|4096))?$/.exec(params);
    if (!m)
      throw new StorageError(
        "EINVAL",
        `params ${JSON.stringify(params)} is not memory:<bytes>[:512|4096]`,
      );
    const sectorSize = m[2] === "4096" ? 4096 : 512;
    const bytes = Number(m[1]);
    if (!Number.isSafeInteger(bytes) || bytes % sectorSize !== 0)
      throw new StorageError("EINVAL", `memory size ${m[1]} is not a multiple of ${sectorSize}`);
    s = new MemoryStorage({ bytes, sectorSize });
  } else {
    const type = keys.type ?? "phy";
    const hold = opts.holdClock !== undefined ? { holdClock: opts.holdClock } : {};
    if (type === "cow")
      s = new CowStorage(await FileStorage.open(params, { readOnly: true, ...hold }), {
        ownsBase: true,
      });
    else if (type === "file" || type === "phy" || type === "raw")
      s = await FileStorage.open(params, { readOnly, ...hold });
    else
      throw new StorageError(
        "EINVAL",
        `backend type ${JSON.stringify(type)} names no storage blkback knows`,
      );
  }
  return readOnly && !s.readOnly ? new ReadOnlyStorage(s, { owns: true }) : s;
}
