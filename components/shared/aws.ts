/** A time of day, UTC "HH:MM" (AWS schedules). */
export const UTC_TIME_PATTERN = /^([01]\d|2[0-3]):[0-5]\d$/;

/** An AWS region name (`us-east-1`, `us-gov-west-1`). */
export const AWS_REGION_PATTERN = /^[a-z]{2}(-gov)?-[a-z]+-\d$/;
