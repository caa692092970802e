/**
 * The noa program. Pulumi invokes the exported function and records the
 * object it returns as the stack's outputs; the offline plan and the program
 * tests invoke it the same way under mocks.
 */
import * as pulumi from "@pulumi/pulumi";
import { loadConfig } from "./config";
import { platform } from "./platform";

export = async () => platform(loadConfig(pulumi.runtime.allConfig()), { stack: pulumi.getStack() });
