export * from "./service-image";
export { contextFiles, contextHash, sourceTag, clearContextHashCache, type BuildSettings } from "./source-hash";
