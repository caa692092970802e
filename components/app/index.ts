export * from "./microservice";
export * from "./migration-job";
export * from "./generated-secret";
