import * as assert from "node:assert/strict";
import { parseQuantity } from "./index.js";

describe("parseQuantity", () => {
    const cases: [unknown, number | undefined][] = [
        ["250m", 0.25],
        ["1", 1],
        ["1.5", 1.5],
        ["512Mi", 512 * 2 ** 20],
        ["20Gi", 20 * 2 ** 30],
        ["1G", 1e9],
        ["100k", 1e5],
        ["0", 0],
        ["10 GB", undefined],
        ["1gi", undefined],
        ["-1", undefined],
        ["", undefined],
        [512, undefined],
        [undefined, undefined],
    ];
    for (const [input, expected] of cases) {
        it(`${JSON.stringify(input)} → ${expected}`, () => assert.equal(parseQuantity(input), expected));
    }
});
