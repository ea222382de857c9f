import Foundation
import Hummingbird
import Logging
import Prometheus
import Worker

/// `/metrics`, `/health/live` and `/health/ready` on `observability.port` (contract section 7):
/// Prometheus scrapes the first; orchestrators probe the others (live while the process serves
/// requests at all, ready while the worker can take commands).
enum ObservabilityEndpoints {
    /// Every interface: Prometheus and the orchestrator's probes come from elsewhere.
    static let host = "0.0.0.0"

    /// `listening` is told the bound port (the one asked for, or the kernel's pick for 0).
    static func application(
        worker: ProvisioningWorker, registry: PrometheusCollectorRegistry, port: Int, logger: Logger,
        listening: @escaping @Sendable (Int) -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        router.get("metrics") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer()))
            )
        }
        router.get("health/live") { _, _ in
            try json(["status": "live"], status: .ok)
        }
        router.get("health/ready") { _, _ in
            let health = worker.health
            let body: [String: any Sendable] = [
                "status": health.isReady ? "ready" : "not ready",
                "groupJoined": health.groupJoined,
                "reasons": health.reasons,
                // Queues and holds per partition: what an operator needs when work stands still.
                "scheduler": worker.schedulingSummary,
            ]
            return try json(body, status: health.isReady ? .ok : .serviceUnavailable)
        }
        return Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "provisioner"),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? port
                logger.info("metrics and health endpoints listening", metadata: ["port": "\(bound)"])
                listening(bound)
            },
            logger: logger
        )
    }

    private static func json(_ body: [String: any Sendable], status: HTTPResponse.Status) throws -> Response {
        let data = try JSONSerialization.data(withJSONObject: body, options: [.sortedKeys])
        return Response(
            status: status, headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
        )
    }
}
