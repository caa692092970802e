export * from "./istio-mesh";
