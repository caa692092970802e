export { harness, promiseOf, childNames } from "./mocks";
export type { Registration, InvokeRecord, InstallOptions } from "./mocks";
