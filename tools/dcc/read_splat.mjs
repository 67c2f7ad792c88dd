// Read splat files (3DGS .ply, .compressed.ply, .splat, .spz, .sog, meta.json + WebPs) with PlayCanvas
// splat-transform 3.x (the SuperSplat loader); print one JSON line per file, in order:
// {file, numRows, numTables, names, transform, columns: {name: [values...]}} with every column as the library
// decoded it, raw (in the file's own axes; `transform` is the pending one splat-transform would apply), with
// --count: names only, no columns; or {file, error} for a file it cannot read (exit code 1).
// Usage: node tools/dcc/read_splat.mjs [--count] FILE [FILE ...]
import { readFileSync, readdirSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import {
  readFile, getInputFormat, MemoryReadFileSystem, materializeToDataTable, createChunkDataPool, logger,
} from "@playcanvas/splat-transform";

logger.setQuiet?.(true);
const args = process.argv.slice(2);
const countOnly = args.includes("--count");
let failed = false;
for (const file of args.filter((a) => a !== "--count")) {
  try {
    const name = basename(file);
    const fileSystem = new MemoryReadFileSystem();
    fileSystem.set(name, new Uint8Array(readFileSync(file)));
    if (name.toLowerCase() === "meta.json") {  // unbundled SOG: the WebPs beside it
      for (const other of readdirSync(dirname(file)).filter((f) => f.endsWith(".webp"))) {
        fileSystem.set(other, new Uint8Array(readFileSync(join(dirname(file), other))));
      }
    }
    const sources = await readFile({ filename: name, inputFormat: getInputFormat(name), options: {}, params: [], fileSystem });
    const table = await materializeToDataTable(sources[0], createChunkDataPool());
    const columns = {};
    if (!countOnly) for (const column of table.columns) columns[column.name] = Array.from(column.data);
    const names = table.columns.map((column) => column.name);
    for (const source of sources) source.close?.();
    console.log(JSON.stringify({ file, numRows: table.numRows, numTables: sources.length, names, transform: table.transform, columns }));
  } catch (error) {
    failed = true;
    console.log(JSON.stringify({ file, error: String(error) }));
  }
}
process.exitCode = failed ? 1 : 0;
