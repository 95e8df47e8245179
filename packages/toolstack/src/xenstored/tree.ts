/**
 * The node database: what cxenstored keeps in TDB, one record per absolute path. A record holds
 * the value bytes, the child names in creation order, the permission list and the generation
 * count of its last modification. Transactions overlay private copies on top (transaction.ts).
 */
import { xsBytes, xsString } from "@pvkit/hypervisor-sim/abi";
import { clonePerms, type XsPerm } from "./perms.js";

/** `NO_GENERATION`: the generation recorded for a node that does not exist. */
export const NO_GENERATION = -1;

/**
 * One node. Values are treated as immutable: replace `value`, never write into it. Records
 * returned by {@link NodeStore.get} are read-only and hand out a fresh copy of their value.
 */
export interface NodeRecord {
  readonly name: string;
  value: Uint8Array;
  /** Child names (last path component) in creation order. */
  children: string[];
  /** Entry 0 is the owner. IGNORE bits persist once set (the XSA-322 rule). */
  perms: XsPerm[];
  /** Global generation count of the last write, or NO_GENERATION for a node built in memory. */
  generation: number;
  /**
   * The child list as DIRECTORY sends it (`name\0` each), kept with a stored record once asked
   * for ({@link encodedChildren}). A copy ({@link cloneNode}, {@link NodeStore.put}) starts
   * without it, so a changed child list is encoded afresh.
   */
  childList?: Uint8Array | undefined;
}

/**
 * The child names, each followed by NUL, as cxenstored stores them and DIRECTORY replies with.
 * Cached on the record: call it only on records whose children no longer change (stored ones).
 */
export function encodedChildren(n: NodeRecord): Uint8Array {
  let list = n.childList;
  if (list === undefined) {
    const children = n.children;
    list = new Uint8Array(childNamesLength(children));
    let off = 0;
    for (let j = 0; j < children.length; j++) {
      const c = children[j]!;
      for (let i = 0; i < c.length; i++) list[off++] = c.charCodeAt(i);
      list[off++] = 0;
    }
    n.childList = list;
  }
  return list;
}

/** `sizeof(struct xs_tdb_record_hdr)`: u64 generation + 3 u32 counts, padded to 8. */
export const TDB_RECORD_HDR_SIZE = 24;
/** `sizeof(struct xs_permissions)`. */
export const XS_PERMISSIONS_SIZE = 8;

/**
 * The size of a node's TDB record in bytes, which the node-size quota limits: header,
 * permissions, value and the NUL-terminated child names.
 */
export function recordSize(n: NodeRecord): number {
  // A stored record never changes: its size is computed once (a directory of a thousand
  // domains is asked for it on every write under it).
  if (n instanceof StoredNode) return n.recordSize;
  return (
    TDB_RECORD_HDR_SIZE +
    XS_PERMISSIONS_SIZE * n.perms.length +
    n.value.length +
    childNamesLength(n.children)
  );
}

/** The bytes of a child list, each name NUL-terminated (an indexed loop: no iterator garbage). */
function childNamesLength(children: readonly string[]): number {
  let len = 0;
  for (let i = 0; i < children.length; i++) len += children[i]!.length + 1;
  return len;
}

/** A copy that can be modified without touching the original (the value is shared, immutable). */
export function cloneNode(n: NodeRecord, name = n.name): NodeRecord {
  return {
    name,
    value: n.value,
    children: n.children.slice(),
    perms: clonePerms(n.perms),
    generation: n.generation,
  };
}

/** The value of a node without one (shared: values are never written into). */
const EMPTY_VALUE = new Uint8Array(0);

/**
 * A record as the store keeps it, close to the bytes it holds: the value as a byte string (one
 * char per byte, a few bytes of overhead, where a Uint8Array costs some 200), shared empty
 * values and child lists, interned permission lists, and the encoded child list once DIRECTORY
 * asked for it. `value` hands out the bytes as a new array; the record itself is read-only
 * (assigning `value` throws): callers change a copy ({@link cloneNode}) and store that.
 */
class StoredNode implements NodeRecord {
  readonly name: string;
  readonly #bytes: string;
  readonly children: string[];
  readonly perms: XsPerm[];
  readonly generation: number;
  childList: Uint8Array | undefined = undefined;
  /** {@link recordSize}, computed once: the record never changes. */
  readonly recordSize: number;

  constructor(
    name: string,
    value: Uint8Array,
    children: string[],
    perms: XsPerm[],
    generation: number,
  ) {
    this.name = name;
    this.#bytes = value.length === 0 ? "" : xsString(value);
    this.children = children;
    this.perms = perms;
    this.generation = generation;
    this.recordSize =
      TDB_RECORD_HDR_SIZE +
      XS_PERMISSIONS_SIZE * perms.length +
      this.#bytes.length +
      childNamesLength(children);
  }

  /** The value bytes (a new array each time; an empty value is the shared empty array). */
  get value(): Uint8Array {
    return this.#bytes.length === 0 ? EMPTY_VALUE : xsBytes(this.#bytes);
  }

  set value(_v: Uint8Array) {
    throw new TypeError(`stored node ${this.name} is read-only; clone it first`);
  }

  /** The value's length in bytes, without building the bytes. */
  get valueLength(): number {
    return this.#bytes.length;
  }
}
/** The child list of a leaf in the store (shared and frozen: stored records are not modified). */
const NO_CHILDREN: string[] = Object.freeze([] as string[]) as string[];
/** Distinct permission lists above which the interning table starts afresh (bounds its size). */
const PERMS_TABLE_MAX = 4096;

/** The global node store and the global generation counter. */
export class NodeStore {
  #nodes = new Map<string, NodeRecord>();
  #generation = 0;
  /**
   * Permission lists of stored records, one frozen copy per distinct list: most nodes share a
   * handful of lists (owner and default access), so a node costs little more than its bytes.
   */
  #perms = new Map<string, XsPerm[]>();

  /** The current global generation count (the value last handed out). */
  get generation(): number {
    return this.#generation;
  }

  /** Hands out the next generation count (`++generation`). */
  nextGeneration(): number {
    return ++this.#generation;
  }

  /** The stored record (do not modify it; clone first). */
  get(name: string): NodeRecord | undefined {
    return this.#nodes.get(name);
  }

  /**
   * Stores a copy of `n` under its name, compactly (see {@link StoredNode}): callers clone a
   * stored record before changing anything. With `owned`, `n`'s child list is kept as it is,
   * not copied: the caller hands it over and never modifies it again (xenstored's writes, whose
   * node is a private copy made for that write; a directory of a thousand domains is not
   * copied once more).
   */
  put(n: NodeRecord, owned = false): void {
    const children =
      n.children.length === 0 ? NO_CHILDREN : owned ? n.children : n.children.slice();
    this.#nodes.set(
      n.name,
      new StoredNode(n.name, n.value, children, this.#intern(n.perms), n.generation),
    );
  }

  #intern(perms: readonly XsPerm[]): XsPerm[] {
    let key = "";
    for (const p of perms) key += `${p.id}:${p.perms},`;
    let shared = this.#perms.get(key);
    if (shared === undefined) {
      if (this.#perms.size >= PERMS_TABLE_MAX) this.#perms.clear();
      shared = Object.freeze(
        perms.map((p) => Object.freeze({ id: p.id, perms: p.perms })),
      ) as XsPerm[];
      this.#perms.set(key, shared);
    }
    return shared;
  }

  delete(name: string): boolean {
    return this.#nodes.delete(name);
  }

  /** Number of stored nodes. */
  get size(): number {
    return this.#nodes.size;
  }

  /** All stored paths (for diagnostics and tests), in insertion order. */
  paths(): string[] {
    return [...this.#nodes.keys()];
  }
}
