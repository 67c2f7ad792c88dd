// Read 3DGS .ply / .splat files with PlayCanvas splat-transform (the SuperSplat loader); print one JSON line per
// file, in order: {file, numRows, numTables, names, columns: {name: [values...]}} with every column as the library
// decoded it (with --count: names only, no columns), or {file, error} for a file it cannot read (exit code 1).
// Usage: node tools/dcc/read_splat.mjs [--count] FILE [FILE ...]
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { readFile, getInputFormat, MemoryReadFileSystem, logger } from "@playcanvas/splat-transform";

logger.setQuiet?.(true);
const args = process.argv.slice(2);
const countOnly = args.includes("--count");
let failed = false;
for (const file of args.filter((a) => a !== "--count")) {
  try {
    const name = basename(file);
    const fileSystem = new MemoryReadFileSystem();
    fileSystem.set(name, new Uint8Array(readFileSync(file)));
    const tables = await readFile({ filename: name, inputFormat: getInputFormat(name), options: {}, params: [], fileSystem });
    const table = tables[0];
    const columns = {};
    if (!countOnly) for (const column of table.columns) columns[column.name] = Array.from(column.data);
    const names = table.columns.map((column) => column.name);
    console.log(JSON.stringify({ file, numRows: table.numRows, numTables: tables.length, names, columns }));
  } catch (error) {
    failed = true;
    console.log(JSON.stringify({ file, error: String(error) }));
  }
}
process.exitCode = failed ? 1 : 0;
