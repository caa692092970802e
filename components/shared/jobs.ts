/**
 * Pulumi awaits a Kubernetes Job until it completes. Two settings every Job
 * the program runs (migrations, the stores' bootstrap) needs.
 */

/**
 * A Job that failed (a store not up yet on a first deploy, a lock timeout)
 * is replaced, so run again, on the next `pulumi up`. Without it Pulumi waits
 * for the same failed Job on every later update, and everything that depends
 * on it stays blocked until someone deletes it by hand.
 */
export const REPLACE_UNREADY_ANNOTATIONS: Readonly<Record<string, string>> = { "pulumi.com/replaceUnready": "true" };

/**
 * How long Pulumi waits for a Job: its `activeDeadlineSeconds` and a minute
 * more (the provider's default is 10 minutes, shorter than a Job that may
 * retry for 20), so a failure is reported as the Job's, not as a timeout.
 */
export function jobAwaitTimeouts(activeDeadlineSeconds: number): { create: string; update: string } {
    const minutes = `${Math.ceil(activeDeadlineSeconds / 60) + 1}m`;
    return { create: minutes, update: minutes };
}
