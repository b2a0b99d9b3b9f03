// Parses an AsyncAPI document with the AsyncAPI parser (the one the
// AsyncAPI CLI and Studio use, with its default Spectral ruleset) and
// exits 1 when any diagnostic has error severity. Warnings are printed.
//
// Usage: node validate.mjs docs/asyncapi.yaml
import { readFile } from 'node:fs/promises';
import { Parser, DiagnosticSeverity } from '@asyncapi/parser';

const file = process.argv[2];
if (!file) {
  console.error('usage: node validate.mjs <asyncapi document>');
  process.exit(2);
}
const text = await readFile(file, 'utf8');
const parser = new Parser();
const { document, diagnostics } = await parser.parse(text, { source: file });
const name = (s) => Object.keys(DiagnosticSeverity).find((k) => DiagnosticSeverity[k] === s) ?? String(s);
let errors = 0;
for (const d of diagnostics) {
  const where = d.path && d.path.length ? d.path.join('.') : '(document)';
  const line = d.range ? `:${d.range.start.line + 1}` : '';
  console.log(`${file}${line} ${name(d.severity).toLowerCase()} ${d.code}: ${d.message} at ${where}`);
  if (d.severity === DiagnosticSeverity.Error) errors++;
}
if (errors > 0 || !document) {
  console.error(`asyncapi: ${file}: ${errors} error(s)${document ? '' : ', document did not parse'}`);
  process.exit(1);
}
const channels = document.channels().length;
const operations = document.operations().length;
const messages = document.allMessages().length;
console.log(`asyncapi: ${file} is valid AsyncAPI ${document.version()}: ${channels} channels, ${operations} operations, ${messages} messages, ${diagnostics.length} diagnostics (0 errors)`);
