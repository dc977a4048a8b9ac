/**
 * The admin every harness and test server starts with. A module of its own, with no imports, so
 * that importing it doesn't load helpers.ts (which reads DATABASE_URL once, as it loads).
 */
export const TEST_ADMIN = { email: 'admin@stockroom.test', password: 'correct horse battery staple' };
