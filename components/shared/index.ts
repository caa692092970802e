export { parseQuantity } from "./quantity";
export { REPLACE_UNREADY_ANNOTATIONS, jobAwaitTimeouts } from "./jobs";
