/**
 * Composition only: typed config in, components wired together, stack
 * outputs out. No resource logic lives here — each area's wiring is a
 * function in its own module, called in dependency order.
 */
import type { NoaConfig } from "./config";
import { DATA_NAMESPACE, deployData } from "./data";
import { deployIngress, deployStorageAndImages } from "./edge";
import { deployFoundation } from "./foundation";
import { preflight } from "./preflight";
import { deployMesh, deployObservability, deployServices } from "./runtime";

export interface PlatformContext {
    /** The stack name; used for resource naming only, never for behaviour. */
    stack: string;
}

/** The stack outputs a deploy publishes. */
export interface PlatformOutputs {
    environment: string;
    [name: string]: unknown;
}

export async function platform(config: NoaConfig, ctx: PlatformContext): Promise<PlatformOutputs> {
    // 0. Every component's own checks on the config, before anything is registered.
    preflight(config, ctx);
    const outputs: PlatformOutputs = { environment: config.environment };

    // 1. Network and cluster: the Kubernetes provider and the OIDC provider for IRSA.
    const { vpc, cluster } = deployFoundation(config, ctx);
    outputs.vpcId = vpc.vpcId;
    outputs.clusterName = cluster.clusterName;
    outputs.kubeconfig = cluster.kubeconfig; // secret: the component wraps it in pulumi.secret

    // 2. The application bucket and one image per service.
    const edge = deployStorageAndImages(config, { cluster }, ctx);
    outputs.bucketName = edge.bucket.bucketName;
    outputs.imageDigests = edge.imageDigests;

    // 3. The mesh: the platform's namespaces, Istio and its ingress gateway.
    const mesh = deployMesh(config, { provider: cluster.provider }, ctx);
    outputs.ingressGateway = { namespace: mesh.ingressNamespace, service: mesh.ingressGatewayService, gateway: mesh.gatewayRef };

    // 6a. Monitoring and KEDA, ahead of step 4: the data stores' ServiceMonitors need its CRDs.
    const observability = deployObservability(config, { provider: cluster.provider }, ctx);
    if (observability.grafanaAdminPassword) outputs.grafanaAdminPassword = observability.grafanaAdminPassword; // secret

    // 4. Citus, Redis Cluster and RabbitMQ; their connection Secrets land in the services' namespace.
    const data = deployData(config, {
        provider: cluster.provider,
        storageClassName: cluster.storageClassName,
        namespaces: { data: DATA_NAMESPACE, services: "noa" },
        dependsOn: [mesh.namespaces[DATA_NAMESPACE], mesh.namespaces["noa"]],
        monitoringReady: observability.ready,
        // KEDA's rabbitmq scaler reads queue depth over AMQP from its own namespace.
        queueReaderNamespaces: observability.kedaNamespace ? ["keda"] : [],
    });
    outputs.data = data.outputs;

    // 5. The ALB in front of the mesh's ingress gateway.
    const alb = deployIngress(
        config,
        { cluster, vpc, gateway: { namespace: mesh.ingressNamespace, serviceName: mesh.ingressGatewayService, statusPort: mesh.ingressGatewayStatusPort } },
        ctx,
    );
    outputs.albHostname = alb.hostname;

    // 6. One MicroService per service (and the migrations Job they wait for).
    const runtime = deployServices(config, {
        provider: cluster.provider,
        mesh,
        observability,
        data,
        edge: { images: edge.imageDigests, bucketName: edge.bucket.bucketName, storageRoleArn: edge.bucket.roleArn },
    }, ctx);
    outputs.services = Object.fromEntries(Object.entries(runtime.services).map(([name, svc]) => [name, svc.url]));
    return outputs;
}
