// Fails when src/schema.ts differs from a fresh openapi-typescript run on docs/openapi.json
// (run `npm run generate`, or `make sdk`, after `make proto`).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const dir = mkdtempSync(join(tmpdir(), "partnerlytics-ts-"));
try {
  const fresh = join(dir, "schema.ts");
  execFileSync("node_modules/.bin/openapi-typescript", ["../../docs/openapi.json", "--output", fresh], { stdio: "ignore" });
  if (readFileSync(fresh, "utf8") !== readFileSync("src/schema.ts", "utf8")) {
    console.error("src/schema.ts is stale: run `npm run generate` (make sdk)");
    process.exit(1);
  }
  console.log("src/schema.ts is fresh");
} finally {
  rmSync(dir, { recursive: true, force: true });
}
