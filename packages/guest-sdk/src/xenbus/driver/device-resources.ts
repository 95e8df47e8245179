/**
 * What a device acquired while connected, released in reverse order of acquisition: grants
 * (ended with the XSA-396 rule — a grant the peer still maps is deferred, never forced),
 * mappings, ports and watches. The framework releases a device's resources on disconnect,
 * unplug and domain death, so a driver cannot leak one by forgetting it.
 */

/** One acquired resource. */
export interface DeviceResource {
  /** What it is, for reports: "grant ref 9 (ring page 0)", "port 5", "watch backend/x". */
  readonly what: string;
  /** Releases it. Called once. */
  readonly release: () => void;
}

/** What the device's resource release (at disconnect) did. */
export interface ReleaseReport {
  /** Released, in release order. */
  readonly released: readonly string[];
  /** Resources whose release threw (the domain is dying, say): `what` and the error. */
  readonly failed: readonly { readonly what: string; readonly error: unknown }[];
}

/** A LIFO of resources. */
export class ResourceStack {
  #items: DeviceResource[] = [];

  /** Resources held, oldest first. */
  get held(): readonly string[] {
    return this.#items.map((r) => r.what);
  }

  get size(): number {
    return this.#items.length;
  }

  /** Adds a resource; returns a function releasing it early (idempotent, and forgotten here). */
  push(what: string, release: () => void): () => void {
    const item: DeviceResource = { what, release };
    this.#items.push(item);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const i = this.#items.indexOf(item);
      if (i >= 0) this.#items.splice(i, 1);
      release();
    };
  }

  /** Releases everything, newest first. A release that throws is reported, and the rest go on. */
  releaseAll(): ReleaseReport {
    const released: string[] = [];
    const failed: { what: string; error: unknown }[] = [];
    while (this.#items.length > 0) {
      const r = this.#items.pop()!;
      try {
        r.release();
        released.push(r.what);
      } catch (error) {
        failed.push({ what: r.what, error });
      }
    }
    return { released, failed };
  }
}
