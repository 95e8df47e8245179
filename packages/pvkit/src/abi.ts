/**
 * pvkit/abi: the Xen 4.17 public ABI, x86_64 (`@pvkit/hypervisor-sim/abi`): constants with Xen's
 * names and numbers, and the byte layouts of the structures in shared memory.
 */
export * from "@pvkit/hypervisor-sim/abi";
