// Prints the OpenAPI document, byte for byte what a running server answers at /openapi.json,
// without a database: `node --import tsx scripts/openapi.ts > openapi.json`. The web UI's typed
// client is generated from it (web/README.md).
//
// The document is built from the routes' schemas alone, so the app is built around a stand-in
// for the database that refuses to be used: nothing here may query it, and if something starts
// to, this fails loudly instead of printing a document that needed data.

import { buildApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import type { Database } from '../src/db/database.ts';

const noDatabase = new Proxy({} as Database, {
  get(_target, property) {
    throw new Error(`scripts/openapi.ts builds the app without a database, yet it was used (${String(property)})`);
  },
});

// The configuration of an empty environment: the document doesn't depend on it, and the
// variables of whoever runs this can't change what it prints.
const app = await buildApp({ config: loadConfig({}), db: noDatabase });
try {
  const response = await app.inject({ method: 'GET', url: '/openapi.json' });
  if (response.statusCode !== 200) throw new Error(`GET /openapi.json answered ${response.statusCode}: ${response.body}`);
  process.stdout.write(response.body);
} finally {
  await app.close();
}
