export { parseQuantity } from "./quantity";
export { REPLACE_UNREADY_ANNOTATIONS, jobAwaitTimeouts } from "./jobs";
export { AWS_REGION_PATTERN, UTC_TIME_PATTERN } from "./aws";
