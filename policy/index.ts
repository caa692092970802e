/**
 * The noa CrossGuard policy pack. `pulumi preview --policy-pack policy
 * --policy-pack-config policy/config/<env>.json` starts this file, which
 * serves the pack over gRPC; tests and the offline plan use
 * `./policies` and `./offline` instead (constructing the pack starts a server).
 */
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME, policies } from "./policies";

new PolicyPack(PACK_NAME, {
    description: "noa: replica minimums and limits, disruption budgets, pod hardening, clustered-store shapes, AWS and mesh guardrails.",
    // A policy without a configured level is mandatory: the config files lower levels deliberately, never by omission.
    enforcementLevel: "mandatory",
    policies,
});
