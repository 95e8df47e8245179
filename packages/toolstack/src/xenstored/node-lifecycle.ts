/**
 * Creating and removing nodes (4.17 `construct_node`, `create_node`, `rm_node`,
 * `delnode_sub`): creation fills in missing parents that inherit the nearest ancestor's
 * permissions, with an unprivileged creator as owner; removal deletes the whole subtree,
 * children first, and fires watches as it goes.
 */
import type { Ctx, XenstoredCore } from "./core.js";
import { fail, XenstoreError } from "./errors.js";
import { baseName, childPath, parentOf } from "./path.js";
import { clonePerms } from "./perms.js";
import { NO_GENERATION, type NodeRecord } from "./tree.js";
import { fireWatches } from "./watches.js";

/**
 * `create_node`: creates `name` with `value`, and any missing parents with empty values.
 * @returns the new node.
 * @throws XenstoreError ENOSPC (node count or node size quota), ENOMEM (owner unknown), or the
 *   errors of reading the ancestors.
 */
export function createNode(
  xs: XenstoredCore,
  ctx: Ctx,
  name: string,
  value: Uint8Array,
): NodeRecord {
  // Walk up until an existing node is found; names[0] is the node itself.
  const names: string[] = [];
  let parentName = name;
  let parent: NodeRecord | undefined;
  while (!parent) {
    names.push(parentName);
    parentName = parentOf(parentName);
    parent = xs.readNode(ctx, parentName);
    if (!parent && parentName === "/") fail("ENOENT", "no root node");
  }
  const existing = parent;
  // Walk down building the missing nodes, each inheriting its parent's permissions.
  const built: NodeRecord[] = [];
  for (let i = names.length - 1; i >= 0; i--) {
    const n = names[i]!;
    parent.children.push(baseName(n));
    const perms = clonePerms(parent.perms);
    if (xs.unprivileged(ctx.conn)) perms[0]!.id = ctx.conn!.id;
    const node: NodeRecord = {
      name: n,
      value: new Uint8Array(0),
      children: [],
      perms,
      generation: NO_GENERATION,
    };
    built.push(node);
    parent = node;
  }
  if (ctx.txn) ctx.txn.nodeCreated = true;
  const target = built[built.length - 1]!;
  target.value = value;

  // Write bottom-up: the new node, its new parents, then the existing ancestor's child list.
  const written: NodeRecord[] = [];
  try {
    for (let i = built.length - 1; i >= 0; i--) {
      const n = built[i]!;
      if (xs.domainEntry(ctx.conn) >= xs.quotas.nodesPerDomain) fail("ENOSPC", "node quota");
      xs.writeNode(ctx, n);
      if (!xs.entryInc(ctx, n)) {
        xs.unstoreRaw(ctx, n.name);
        fail("ENOMEM", "owner domain unknown");
      }
      written.push(n);
    }
    xs.writeNode(ctx, existing);
  } catch (e) {
    // `destroy_node` for every node already written; a transaction can no longer commit.
    for (const n of written) {
      xs.unstoreRaw(ctx, n.name);
      xs.entryDec(ctx, n);
      if (ctx.txn) ctx.txn.fail = true;
    }
    throw e;
  }
  return target;
}

/**
 * `rm_node`: deletes `name` and its subtree, then its entry in the parent. Each removed
 * descendant fires watches on exactly its path; the removed root fires like a write.
 * @throws XenstoreError EINVAL if the parent is missing, EIO if the walk fails.
 */
export function rmNode(xs: XenstoredCore, ctx: Ctx, name: string): void {
  const parent = xs.readNode(ctx, parentOf(name));
  if (!parent) fail("EINVAL");
  deleteSubtree(xs, ctx, name, name);
  const i = parent.children.indexOf(baseName(name));
  if (i < 0) fail("EIO", `child ${name} missing from its parent`);
  parent.children.splice(i, 1);
  xs.writeNode(ctx, parent, true);
}

function deleteSubtree(xs: XenstoredCore, ctx: Ctx, name: string, root: string): void {
  let node: NodeRecord | undefined;
  try {
    node = xs.readNode(ctx, name);
  } catch (e) {
    // A walk that cannot read a node stops with a store error (`WALK_TREE_ERROR_STOP`).
    if (e instanceof XenstoreError) fail("EIO", `cannot read ${name}: ${e.code}`);
    throw e;
  }
  if (!node) return;
  for (const child of [...node.children]) deleteSubtree(xs, ctx, childPath(name, child), root);
  xs.deleteNode(ctx, node);
  // Fired while the node's permissions are still known.
  fireWatches(xs, ctx, name, node, name !== root);
  xs.entryDec(ctx, node);
}
