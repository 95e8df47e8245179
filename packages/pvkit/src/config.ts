/**
 * pvkit/config: the config files of `pvkit up` / `pvkit create` — load and validate one, or parse
 * an xl disk spec — for tools that write or check configs.
 *
 * @module pvkit/config
 */
export {
  loadConfig,
  ConfigError,
  type ConfigProblem,
  type HostConfig,
  type ResolvedDomain,
  type KernelSpec,
} from "./config/load-config.js";
export { parseDiskSpec, DiskSpecError, type XlDisk } from "./config/disk-spec.js";
export { parseSize, type DiskConfig, type DomainConfig } from "./config/schema.js";
