// Validates an AsyncAPI document with the official parser: reads JSON on stdin, prints
// the parser's diagnostics as JSON lines on stdout; exit 1 when any is an error.
import { Parser } from "@asyncapi/parser";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const parser = new Parser();
const { document, diagnostics } = await parser.parse(Buffer.concat(chunks).toString("utf8"));
const SEVERITY = ["error", "warning", "info", "hint"];
for (const d of diagnostics) {
  console.log(JSON.stringify({ severity: SEVERITY[d.severity], code: d.code, message: d.message, path: d.path.join("/") }));
}
process.exit(document && !diagnostics.some((d) => d.severity === 0) ? 0 : 1);
