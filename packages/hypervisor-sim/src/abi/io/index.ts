/** Shared-memory I/O ring layouts of `xen/include/public/io/`. */
export * from "./ring.js";
export * from "./console.js";
export * from "./xenstore-ring.js";
export * from "./xs-wire.js";
export * from "./xs-wire-codec.js";
export * from "./xenbus.js";
export * from "./blkif.js";
