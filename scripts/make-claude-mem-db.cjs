// Create a claude-mem database with claude-mem's own startup code, and optionally seed it
// through claude-mem's own writer API. Run by Bun (claude-mem's DB modules need bun:sqlite):
//
//   CLAUDE_MEM_DATA_DIR=<dir> bun make-claude-mem-db.cjs <claude-mem package dir> [seed.json]
//
// The database lands at <dir>/claude-mem.db (claude-mem fixes the file name). CLAUDE_MEM_DATA_DIR
// is read when claude-mem's modules load, so it must be set before bun starts.
//
// seed.json: {"observations": [{"memory_session_id", "content_session_id"?, "project", "type",
//   "title", "subtitle"?, "narrative"?, "facts"?: [], "concepts"?: [], "files_read"?: [],
//   "files_modified"?: [], "prompt_number"?, "created_at_epoch"? (ms)}]}
// Sessions are created on first sight of a memory_session_id (createSDKSession +
// updateMemorySessionId), observations through storeObservation, so every row has exactly
// the shape the live plugin writes (content_hash, created_at, JSON arrays).
'use strict';
const fs = require('fs');
const path = require('path');

async function main() {
  const packageDir = process.argv[2];
  const seedFile = process.argv[3];
  if (!packageDir) throw new Error('usage: make-claude-mem-db.cjs <claude-mem package dir> [seed.json]');
  const { WorkerService } = require(path.join(path.resolve(packageDir), 'plugin/scripts/worker-service.cjs'));
  const worker = new WorkerService(); // builds objects only: no port, no child process
  await worker.dbManager.initialize(); // the worker's own DB startup: migrations + FTS tables
  const store = worker.dbManager.getSessionStore();
  const hasFts = store.db
    .prepare("SELECT name FROM sqlite_master WHERE name = 'observations_fts'")
    .get();
  if (!hasFts) throw new Error('claude-mem created no observations_fts table: its startup changed');

  let stored = 0;
  if (seedFile) {
    const seed = JSON.parse(fs.readFileSync(seedFile, 'utf8'));
    const sessions = new Set();
    const seedAll = store.db.transaction((observations) => {
      for (const obs of observations) {
        const memoryId = obs.memory_session_id;
        if (!sessions.has(memoryId)) {
          const contentId = obs.content_session_id || `content-${memoryId}`;
          const sessionDbId = store.createSDKSession(contentId, obs.project, 'seeded prompt');
          store.updateMemorySessionId(sessionDbId, memoryId);
          sessions.add(memoryId);
        }
        store.storeObservation(
          memoryId,
          obs.project,
          {
            type: obs.type,
            title: obs.title,
            subtitle: obs.subtitle ?? null,
            narrative: obs.narrative ?? null,
            facts: obs.facts ?? [],
            concepts: obs.concepts ?? [],
            files_read: obs.files_read ?? [],
            files_modified: obs.files_modified ?? [],
          },
          obs.prompt_number ?? 1,
          obs.discovery_tokens ?? 0,
          obs.created_at_epoch,
        );
        stored += 1;
      }
    });
    seedAll(seed.observations || []);
  }
  await worker.dbManager.close();
  process.stdout.write(JSON.stringify({ stored }) + '\n');
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error && error.stack ? error.stack : String(error));
    process.exit(1);
  },
);
