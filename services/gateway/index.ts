/** @noa/gateway: `buildApp` for tests and benchmarks; `src/main.ts` runs it. */
export { buildApp, type GatewayAppDeps } from "./src/app";
export { gatewayEnv, gatewayEnvSchema, gatewaySettings, type GatewayEnv } from "./src/config";
export { registerGateway, ROUTES, type GatewaySettings, type GatewayHandle } from "./src/gateway";
