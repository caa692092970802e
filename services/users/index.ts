/** @noa/users: `buildApp` for tests (including the gateway's end-to-end test); `src/main.ts` runs it. */
export { buildApp, USER_ID_HEADER, type UsersDeps } from './src/app.js';
export { usersEnv, type UsersEnv } from './src/config.js';
export { hashPassword, verifyPassword, needsRehash, DEFAULT_SCRYPT, type ScryptParams } from './src/password.js';
export { profileKey } from './src/cache.js';
