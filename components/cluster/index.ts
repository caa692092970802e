export * from "./builders";
export * from "./eks";
export * from "./irsa";
