// Validates an AsyncAPI document with the official parser (@asyncapi/parser).
// Usage: node asyncapi_validate.mjs DOCUMENT.json; prints one JSON line:
// {"errors": [...], "warnings": [...]}; exits 1 when there are errors.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(process.env.ASYNCAPI_PARSER_PREFIX + "/");
const { Parser } = require("@asyncapi/parser");

const text = readFileSync(process.argv[2], "utf8");
const parser = new Parser();
const { document, diagnostics } = await parser.parse(text);
const describe = (d) => ({
  code: d.code,
  message: d.message,
  path: d.path.join("/"),
  severity: d.severity,
});
const errors = diagnostics.filter((d) => d.severity === 0).map(describe);
const warnings = diagnostics.filter((d) => d.severity === 1).map(describe);
console.log(JSON.stringify({ parsed: document !== undefined, errors, warnings }));
process.exit(errors.length ? 1 : 0);
