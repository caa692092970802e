/** The messaging area: the RabbitMQ cluster behind the job queues. */
export * from "./rabbitmq";
