// Answer claude-mem's get_observations the way its MCP server does, with claude-mem's own code:
// the worker's handler calls SessionStore.getObservationsByIds, and the MCP server wraps the
// JSON it gets back as one text block ({content: [{type: "text", text: JSON.stringify(rows, null, 2)}]}).
//
//   CLAUDE_MEM_DATA_DIR=<dir holding claude-mem.db> bun claude-mem-get-observations.cjs <claude-mem package dir> <ids.json>
//
// Tests feed the printed result to the access hook as tool_response.
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const [packageDir, idsFile] = process.argv.slice(2);
  if (!packageDir || !idsFile) throw new Error('usage: claude-mem-get-observations.cjs <claude-mem package dir> <ids.json>');
  const ids = JSON.parse(fs.readFileSync(idsFile, 'utf8'));
  const { WorkerService } = require(path.join(path.resolve(packageDir), 'plugin/scripts/worker-service.cjs'));
  const worker = new WorkerService(); // objects only: no port, no child process
  await worker.dbManager.initialize();
  const rows = worker.dbManager.getSessionStore().getObservationsByIds(ids, {});
  await worker.dbManager.close();
  process.stdout.write(JSON.stringify({ content: [{ type: 'text', text: JSON.stringify(rows, null, 2) }] }) + '\n');
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error && error.stack ? error.stack : String(error));
    process.exit(1);
  },
);
