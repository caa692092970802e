// Mocha's spec output, plus the run's counts written to $NOA_TEST_STATS so
// scripts/test.mjs can add up every package into one summary line.
const fs = require("node:fs");
const Mocha = require("mocha");

class SpecWithStats extends Mocha.reporters.Spec {
    constructor(runner, options) {
        super(runner, options);
        const failures = [];
        runner.on("fail", (test, err) => failures.push({ title: test.fullTitle(), message: String(err && err.message).split("\n")[0] }));
        runner.once("end", () => {
            const file = process.env.NOA_TEST_STATS;
            if (!file) return;
            const s = runner.stats || {};
            fs.writeFileSync(file, JSON.stringify({ passes: s.passes || 0, failures: s.failures || 0, pending: s.pending || 0, failed: failures }));
        });
    }
}

module.exports = SpecWithStats;
