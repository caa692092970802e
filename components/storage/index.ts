export * from "./app-bucket";
