// Parse each mermaid document given as a JSON list on stdin with mermaid's own parser.
// Prints one JSON list: null for a document that parses, else the parser's message.
import { readFileSync } from 'fs';
import { JSDOM } from 'jsdom';

const dom = new JSDOM('<!doctype html><html><body></body></html>');
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import('mermaid');

const results = [];
for (const text of JSON.parse(readFileSync(0, 'utf8'))) {
  try {
    await mermaid.parse(text);
    results.push(null);
  } catch (error) {
    results.push(String(error.message || error).split('\n').slice(0, 3).join(' | '));
  }
}
console.log(JSON.stringify(results));
