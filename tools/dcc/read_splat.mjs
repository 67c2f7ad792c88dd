// Read a 3DGS .ply / .splat with PlayCanvas splat-transform (the SuperSplat loader); print one JSON line:
// {numRows, numTables, columns: {name: [values...]}} with every column as the library decoded it.
// Usage: node tools/dcc/read_splat.mjs FILE
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { readFile, getInputFormat, MemoryReadFileSystem, logger } from "@playcanvas/splat-transform";

logger.setQuiet?.(true);
const file = process.argv[2];
const name = basename(file);
const fileSystem = new MemoryReadFileSystem();
fileSystem.set(name, new Uint8Array(readFileSync(file)));
const tables = await readFile({ filename: name, inputFormat: getInputFormat(name), options: {}, params: [], fileSystem });
const table = tables[0];
const columns = {};
for (const column of table.columns) columns[column.name] = Array.from(column.data);
console.log(JSON.stringify({ numRows: table.numRows, numTables: tables.length, columns }));
