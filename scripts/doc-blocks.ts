/**
 * Code blocks of the project's Markdown (READMEs, docs/), for tests that keep the docs and the
 * code one: what a reader copies is what the tests run.
 *
 * A fence's info string is a language and `key=value` attributes:
 *
 * - ```` ```ts file=src/front.ts ```` — the block is that file, byte for byte (docs/tutorial.md;
 *   its test compares them);
 * - ```` ```ts example=rings ```` — the block is (part of) a runnable example: `runExample` runs
 *   the blocks of one name, concatenated in the order they appear, as one module;
 * - ```` ```ts excerpt=examples/pvrng/src/back.ts ```` — the block's lines appear, in one run and
 *   byte for byte, in that file (`isExcerptOf`): a README quotes the code without re-typing it.
 *
 * `runExample` transpiles the TypeScript with the compiler's `transpileModule` (types are only
 * erased: the blocks are type-checked where they are also a file, or not at all), resolves the
 * blocks' imports from the `modules` the test passes (the test imports them by package name, so
 * they resolve as everywhere else), and gives the code a `console` whose `log` is recorded. The
 * test then compares what was printed with what the README says it prints.
 */
import ts from "typescript";

/** One fenced code block. */
export interface DocBlock {
  /** The fence's language ("ts", "sh", "yaml", ...). */
  readonly lang: string;
  /** The info string's `key=value` attributes. */
  readonly attrs: Readonly<Record<string, string>>;
  /** The block's text, ending with a newline. */
  readonly body: string;
  /** 1-based line of the opening fence. */
  readonly line: number;
}

/** Every ```` ``` ```` fenced block of `markdown`, in order. */
export function docBlocks(markdown: string): DocBlock[] {
  const out: DocBlock[] = [];
  for (const m of markdown.matchAll(/^```(\w*)([^\n]*)\n([\s\S]*?)^```$/gm)) {
    const attrs: Record<string, string> = {};
    for (const a of m[2]!.trim().split(/\s+/)) {
      const eq = a.indexOf("=");
      if (eq > 0) attrs[a.slice(0, eq)] = a.slice(eq + 1);
    }
    out.push({
      lang: m[1]!,
      attrs,
      body: m[3]!,
      line: markdown.slice(0, m.index).split("\n").length,
    });
  }
  return out;
}

/** The source of example `name` in `markdown`: its `example=name` blocks, in order. */
export function exampleSource(markdown: string, name: string): string {
  const blocks = docBlocks(markdown).filter((b) => b.attrs["example"] === name);
  if (blocks.length === 0) throw new Error(`no \`\`\`ts example=${name} block`);
  return blocks.map((b) => b.body).join("\n");
}

/** Whether `block` is a run of whole lines of `file` (both as text; `block` ends with a newline). */
export function isExcerptOf(block: string, file: string): boolean {
  return block.length > 0 && (file.startsWith(block) || file.includes(`\n${block}`));
}

/** What an example did. */
export interface ExampleRun {
  /** One entry per `console.log` call: its one argument, or its arguments joined by spaces. */
  readonly printed: unknown[];
  /** The example's top-level variables and functions, by name, as it left them. */
  readonly vars: Readonly<Record<string, unknown>>;
}

/** Names the example declares at its top level (`const x`, `let { a, b }`, `function f`). */
function topLevelNames(source: string): string[] {
  const sf = ts.createSourceFile(
    "example.ts",
    source,
    ts.ScriptTarget.ES2022,
    false,
    ts.ScriptKind.TS,
  );
  const names: string[] = [];
  const bind = (n: ts.BindingName): void => {
    if (ts.isIdentifier(n)) names.push(n.text);
    else for (const e of n.elements) if (!ts.isOmittedExpression(e)) bind(e.name);
  };
  for (const st of sf.statements) {
    if (ts.isVariableStatement(st)) for (const d of st.declarationList.declarations) bind(d.name);
    else if ((ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st)) && st.name)
      names.push(st.name.text);
  }
  return names;
}

/**
 * Runs example `name` of `markdown` (see the file header): what it printed, and its top-level
 * variables for the test to inspect.
 * @param modules what the blocks import, by specifier (`{ "@pvkit/guest-sdk": sdk }`).
 * @param globals names an excerpt uses without importing them (a README shows the lines that
 *   matter, the test supplies the rest: `{ expect, withHost }`).
 * @throws Error for an import not in `modules`; whatever the example throws.
 */
export async function runExample(
  markdown: string,
  name: string,
  modules: Readonly<Record<string, unknown>>,
  globals: Readonly<Record<string, unknown>> = {},
): Promise<ExampleRun> {
  const source = exampleSource(markdown, name);
  const names = topLevelNames(source);
  const js = ts.transpileModule(source, {
    compilerOptions: {
      module: ts.ModuleKind.CommonJS,
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: false,
      verbatimModuleSyntax: false,
    },
    reportDiagnostics: false,
  }).outputText;
  const printed: unknown[] = [];
  const console = {
    log: (...args: unknown[]): void =>
      void printed.push(args.length === 1 ? args[0] : args.map(String).join(" ")),
  };
  const require = (spec: string): unknown => {
    if (!(spec in modules)) throw new Error(`example ${name} imports ${spec}; pass it in modules`);
    return modules[spec];
  };
  const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (
    ...args: string[]
  ) => (...a: unknown[]) => Promise<Record<string, unknown>>;
  // A name declared inside a block TypeScript made (`await using` puts the module in a try) is
  // out of scope here: typeof tells, without a ReferenceError.
  const body = `${js}\nreturn { ${names.map((n) => `...(typeof ${n} === "undefined" ? {} : { ${n} })`).join(", ")} };`;
  const g = Object.keys(globals);
  const vars = await new AsyncFunction("require", "exports", "console", ...g, body)(
    require,
    {},
    console,
    ...g.map((k) => globals[k]),
  );
  return { printed, vars };
}
