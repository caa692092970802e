export { parseQuantity } from "./quantity";
