import { pvkitProject } from "../../vitest.shared.js";

// The CLI tests spawn processes (tsx start-up, real ptys): give them room on a busy machine.
export default pvkitProject("pvkit", { testTimeout: 60_000, hookTimeout: 30_000 });
