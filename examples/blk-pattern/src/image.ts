/** A fresh raw image: an empty sparse file of `bytes` (`truncate`, nothing written). */
import { open } from "node:fs/promises";

/** Creates `path` (failing if it exists) as a sparse file of `bytes`. */
export async function createImage(path: string, bytes: number): Promise<void> {
  const fh = await open(path, "wx");
  try {
    await fh.truncate(bytes);
  } finally {
    await fh.close();
  }
}
