import { a } from "../a.js";
import { b } from "../a/b.js";
document.getElementById("app").textContent = `a + b = ${a + b}`;
