/**
 * The xs_wire ABI (`xen/include/public/io/xs_wire.h`, Xen 4.17) as xenstored uses it. The
 * definitions live once, in `@pvkit/hypervisor-sim/abi` (`abi/io/xs-wire.ts`); this module only
 * re-exports them for the files of this folder.
 */
export {
  xsd_sockmsg,
  XSD_SOCKMSG_SIZE,
  XS,
  XS_DEBUG,
  XS_TYPE_COUNT,
  XS_INVALID,
  xsTypeName,
  xsd_errors,
  isXsdErrorName,
  XS_WATCH_PATH,
  XS_WATCH_TOKEN,
  XENSTORE_PAYLOAD_MAX,
  XENSTORE_ABS_PATH_MAX,
  XENSTORE_REL_PATH_MAX,
  type XsTypeName,
  type XsdErrorName,
} from "@pvkit/hypervisor-sim/abi";
