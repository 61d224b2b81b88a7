/**
 * Writes webhooks/schemas/<type>.json from the TypeBox definitions in src/webhooks/event-schemas.ts
 * (npm run webhooks:schemas). test/webhooks/event-schemas.test.ts fails if they drift apart.
 */
import { writeFileSync } from 'node:fs';
import { EVENT_SCHEMAS, EVENT_TYPES } from '../src/webhooks/event-schemas.js';

export function schemaJson(type: keyof typeof EVENT_SCHEMAS): string {
  return `${JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', ...EVENT_SCHEMAS[type] }, null, 2)}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const type of EVENT_TYPES)
    writeFileSync(new URL(`./schemas/${type}.json`, import.meta.url), schemaJson(type));
  process.stdout.write(`wrote ${EVENT_TYPES.length} schemas to webhooks/schemas/\n`);
}
