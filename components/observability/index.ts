export * from "./alerts";
export * from "./observability";
