/**
 * An error the CLI reports in one message, without a stack, and exits with `exitCode`.
 */
export class CliError extends Error {
  /** The process exit code: 1 for a failure, 2 for a usage error (commander's convention). */
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "CliError";
    this.exitCode = exitCode;
  }
}
