import { pvkitProject } from "../../vitest.shared.js";

// isolate: false: each worker imports the package sources once and runs file after file in
// them, instead of a fresh module graph per file (import was most of this project's time). The
// test files share no module-level state: the project is green with its files in any order
// (`--no-isolate --sequence.shuffle.files --sequence.seed=<n>`, several seeds).
export default pvkitProject("toolstack", { isolate: false });
