import { analyticsHandler } from './analytics';
import { emailHandler } from './email';
import { exportHandler } from './export';
import type { JobHandler } from './handler';
import { reportHandler } from './report';
import { createWebhookHandler, type WebhookOptions } from './webhook';

export * from './handler';
export { analyticsHandler, emailHandler, exportHandler, reportHandler, createWebhookHandler };

/** The platform's job types, one handler each. */
export function defaultHandlers(options: { webhook?: WebhookOptions } = {}): JobHandler<any>[] {
  return [emailHandler, createWebhookHandler(options.webhook), reportHandler, exportHandler, analyticsHandler];
}
