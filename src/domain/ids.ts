import { randomBytes } from 'node:crypto';

// UUIDv7 (RFC 9562): 48 bits of Unix milliseconds, then random bits, so ids sort by creation
// time. Generated here rather than by the database: the server (PostgreSQL 15) has no uuidv7().
// Within one millisecond a process keeps its ids increasing by bumping the 12-bit rand_a field.
let lastMs = 0;
let sequence = 0;

export function uuidv7(now = Date.now()): string {
  if (now <= lastMs) {
    now = lastMs;
    sequence += 1;
    if (sequence > 0xfff) {
      now = lastMs + 1;
      sequence = 0;
    }
  } else {
    sequence = randomBytes(2).readUInt16BE(0) & 0x7ff;
  }
  lastMs = now;
  const bytes = randomBytes(16);
  bytes.writeUIntBE(now, 0, 6);
  bytes[6] = 0x70 | (sequence >> 8);
  bytes[7] = sequence & 0xff;
  bytes[8] = 0x80 | (bytes[8]! & 0x3f);
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
