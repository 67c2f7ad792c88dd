// Read a 3DGS .ply / .splat with PlayCanvas splat-transform (the SuperSplat loader); print one JSON line:
// {numRows, columns: {name: [values...]}} with every column's raw values as the library decoded them.
// Usage: node tools/dcc/read_splat.mjs FILE
import { resolve, dirname, basename } from "node:path";
import { pathToFileURL } from "node:url";
import { readFile, getInputFormat, UrlReadFileSystem, logger } from "@playcanvas/splat-transform";

logger.setQuiet?.(true);
const file = resolve(process.argv[2]);
const fileSystem = new UrlReadFileSystem(pathToFileURL(dirname(file)).href + "/");
const tables = await readFile({
  filename: basename(file),
  inputFormat: getInputFormat(file),
  options: {},
  params: [],
  fileSystem,
});
const table = tables[0];
const columns = {};
for (const column of table.columns) columns[column.name] = Array.from(column.data);
console.log(JSON.stringify({ numRows: table.numRows, numTables: tables.length, columns }));
