/**
 * A page this guest allocated and granted to a peer, as one disposable handle: what a frontend
 * keeps for a ring page or a data buffer. Created by `GrantTableClient.grantPage`.
 */
import type { Page } from "@pvkit/hypervisor-sim";
import { ClosedError } from "@pvkit/hypervisor-sim";
import type { GrantTableClient } from "./grant-table-client.js";
import type { GuestPageAllocator } from "./page-allocator.js";

/** What `GrantedPage.end()` did. */
export type GrantedPageEnd = "ended" | "deferred" | "already-ended";

type Make = (
  client: GrantTableClient,
  allocator: GuestPageAllocator,
  ref: number,
  domid: number,
  gfn: number,
  page: Page,
  readonly: boolean,
) => GrantedPage;
let make: Make;

/** @internal `GrantTableClient.grantPage` makes the handle of a page it granted (the constructor is private). */
export function newGrantedPage(...args: Parameters<Make>): GrantedPage {
  return make(...args);
}

/**
 * One allocator page granted to one peer (`gnttab_grant_foreign_access` of a fresh page), from
 * `GrantTableClient.grantPage`. `end()` (or `using`) ends the grant and frees the page; if the
 * peer still maps it the end is deferred and the page stays quarantined (XSA-396). `end()`
 * after the client was closed is not an error; it throws GrantError ERR_UNKNOWN_REF only if the
 * ref was ended behind its back through the client.
 */
export class GrantedPage implements Disposable {
  readonly #client: GrantTableClient;
  readonly #allocator: GuestPageAllocator;
  #done = false;

  static {
    make = (...args) => new GrantedPage(...args);
  }

  /** Use `GrantTableClient.grantPage` (private: the published .d.ts has no `new GrantedPage()`). */
  private constructor(
    client: GrantTableClient,
    allocator: GuestPageAllocator,
    /** The grant ref to pass to the peer (ring-ref, a request's gref, ...). */
    readonly ref: number,
    /** The grantee. */
    readonly domid: number,
    /** This guest's frame behind the grant. */
    readonly gfn: number,
    /** This guest's own writable view of the page (valid while the page is allocated). */
    readonly page: Page,
    /** Whether the peer was granted read-only access. */
    readonly readonly: boolean,
  ) {
    this.#client = client;
    this.#allocator = allocator;
  }

  /** Whether `end()` has run. */
  get ended(): boolean {
    return this.#done;
  }

  /**
   * Ends the grant and frees the page. If the peer still maps it (XSA-396) the end is deferred:
   * the ref and the page stay out of use (the page sits in the allocator's quarantine) until the
   * grant client's retry finds it released. Idempotent.
   */
  end(): GrantedPageEnd {
    if (this.#done) return "already-ended";
    let ended: boolean;
    try {
      ended = this.#client.endAccess(this.ref);
    } catch (e) {
      // A closed client has already ended this grant, or leaked it because the peer still maps
      // it (then the grant's hold keeps the page in the allocator's quarantine for good).
      if (!(e instanceof ClosedError)) throw e;
      ended = !this.#client.isGranted(this.ref);
    }
    this.#done = true;
    this.#allocator.free(this.gfn);
    return ended ? "ended" : "deferred";
  }

  /** Same as `end()`. */
  [Symbol.dispose](): void {
    this.end();
  }
}
