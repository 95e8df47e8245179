/*
 * Where test/abi/io/blkif.test.ts gets its x86_32-abi numbers (not run by the tests: the
 * expected values are pinned there). Xen's public headers declare only the native structs, so:
 *
 *  1. Linux blkback (drivers/block/xen-blkback/common.h) spells the i386 layout out as packed
 *     structs after the operation byte; they are mirrored below, together with Xen's flat
 *     structs under #pragma pack(4) (the i386 alignment of uint64_t):
 *       gcc -std=gnu11 -D__XEN_TOOLS__ -o probe blkif-x86_32-probe.c && ./probe
 *  2. Xen's own io/blkif.h compiled for i386 gives the same numbers (no 32-bit libc needed:
 *     a stub stdint.h with the fixed-width typedefs, then read the .long values of
 *     `const unsigned x = offsetof(...)` from the assembly):
 *       gcc -m32 -nostdinc -I<stub> -I<dir with xen/> -D__XEN_TOOLS__ -S probe32.c
 *
 * Measured with gcc 12.2 (Debian 12) and libxen-dev 4.17.5.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <xen/io/blkif.h>
#define P __attribute__((__packed__))
struct blkif_x86_32_request_rw { uint8_t nr_segments; blkif_vdev_t handle; uint64_t id; blkif_sector_t sector_number; struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST]; } P;
struct blkif_x86_32_request_discard { uint8_t flag; blkif_vdev_t _pad1; uint64_t id; blkif_sector_t sector_number; uint64_t nr_sectors; } P;
struct blkif_x86_32_request_other { uint8_t _pad1; blkif_vdev_t _pad2; uint64_t id; } P;
struct blkif_x86_32_request_indirect { uint8_t indirect_op; uint16_t nr_segments; uint64_t id; blkif_sector_t sector_number; blkif_vdev_t handle; uint16_t _pad1; grant_ref_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST]; uint64_t _pad2; } P;
struct blkif_x86_32_request { uint8_t operation; union { struct blkif_x86_32_request_rw rw; struct blkif_x86_32_request_discard discard; struct blkif_x86_32_request_other other; struct blkif_x86_32_request_indirect indirect; } u; } P;
union blkif_x86_32_sring_entry { struct blkif_x86_32_request req; struct blkif_response __attribute__((__packed__)) rsp; };
/* the x86_64 variants, also from common.h */
struct blkif_x86_64_request_other { uint8_t _pad1; blkif_vdev_t _pad2; uint32_t _pad3; uint64_t id; } P;
struct blkif_x86_64_request { uint8_t operation; union { struct blkif_x86_64_request_other other; char rw[111]; } u; } P;
/* the same flat structs under #pragma pack(4): the i386 ABI's alignment of u64 */
#pragma pack(push, 4)
struct p4_rsp { uint64_t id; uint8_t operation; int16_t status; };
struct p4_req { uint8_t operation; uint8_t nr_segments; blkif_vdev_t handle; uint64_t id; blkif_sector_t sector_number; struct blkif_request_segment seg[11]; };
struct p4_discard { uint8_t operation; uint8_t flag; blkif_vdev_t handle; uint64_t id; blkif_sector_t sector_number; uint64_t nr_sectors; };
struct p4_indirect { uint8_t operation; uint8_t indirect_op; uint16_t nr_segments; uint64_t id; blkif_sector_t sector_number; blkif_vdev_t handle; grant_ref_t indirect_grefs[8]; uint64_t pad; };
struct p4_other { uint8_t operation; uint8_t _pad1; blkif_vdev_t _pad2; uint64_t id; };
#pragma pack(pop)
#define O(T,M) printf("%-40s %zu/%zu\n", #T "." #M, offsetof(T, M), sizeof(((T*)0)->M))
#define S(T) printf("%-40s %zu\n", "sizeof " #T, sizeof(T))
int main(void){
  typedef struct blkif_x86_32_request R;
  S(R); O(R,operation); O(R,u.rw.nr_segments); O(R,u.rw.handle); O(R,u.rw.id); O(R,u.rw.sector_number); O(R,u.rw.seg);
  O(R,u.discard.flag); O(R,u.discard._pad1); O(R,u.discard.id); O(R,u.discard.sector_number); O(R,u.discard.nr_sectors);
  O(R,u.other.id);
  O(R,u.indirect.indirect_op); O(R,u.indirect.nr_segments); O(R,u.indirect.id); O(R,u.indirect.sector_number); O(R,u.indirect.handle); O(R,u.indirect._pad1); O(R,u.indirect.indirect_grefs); O(R,u.indirect._pad2);
  S(struct blkif_x86_32_request_rw); S(struct blkif_x86_32_request_discard); S(struct blkif_x86_32_request_other); S(struct blkif_x86_32_request_indirect);
  S(union blkif_x86_32_sring_entry);
  typedef struct blkif_x86_64_request Q; O(Q,u.other.id); S(struct blkif_x86_64_request_other);
  S(struct p4_rsp); O(struct p4_rsp,status); S(struct p4_req); O(struct p4_req,id); O(struct p4_req,seg);
  S(struct p4_discard); O(struct p4_discard,nr_sectors); S(struct p4_indirect); O(struct p4_indirect,handle); O(struct p4_indirect,indirect_grefs); O(struct p4_indirect,pad);
  S(struct p4_other); O(struct p4_other,id);
  return 0; }
