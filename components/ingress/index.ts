export * from "./alb-ingress";
