// Validate .glb/.gltf files with the Khronos glTF-Validator; print one JSON line per file, in order, with the
// report summary. Usage: node tools/dcc/validate_gltf.mjs FILE [FILE ...]
import { readFileSync } from "node:fs";
import validator from "gltf-validator";

for (const file of process.argv.slice(2)) {
  const report = await validator.validateBytes(new Uint8Array(readFileSync(file)), { maxIssues: 100 });
  const issues = report.issues;
  console.log(JSON.stringify({
    file,
    numErrors: issues.numErrors,
    numWarnings: issues.numWarnings,
    numInfos: issues.numInfos,
    numHints: issues.numHints,
    messages: issues.messages.map((m) => ({ code: m.code, severity: m.severity, message: m.message, pointer: m.pointer })),
    info: report.info,
  }));
}
