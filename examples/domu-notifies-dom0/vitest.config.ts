import { pvkitProject } from "../../vitest.shared.js";

export default pvkitProject("example-domu-notifies-dom0");
