import AsyncHTTPClient
import Foundation
import ProvisionerConfiguration
import TestSupport
import Testing

/// `deploy/kubernetes` rendered by kustomize, validated against the schemas of the kinds in it,
/// and held against the worker and the console themselves: what no cluster here can tell.
/// kubectl (its kustomize) and PyPI's kubernetes-validate come from scripts/bootstrap.
@Suite("Kubernetes manifests", .timeLimit(.minutes(10)))
struct KubernetesManifestTests {
    static let root = ObservabilityEndToEndTests.root

    /// What `Tests/Deployment/kubernetes_manifests.py` found in the rendered objects.
    struct Facts: Decodable {
        struct Probe: Decodable {
            let path: String
            let port: Int
        }
        struct Worker: Decodable {
            let args: [String]
            let terminationGracePeriodSeconds: Int
            let probes: [String: Probe]
            let metricsPort: Int
            let env: [String]
            let serviceMonitorPaths: [String]
        }
        struct Console: Decodable {
            let args: [String]
            let probes: [String: Probe]
            let httpPort: Int
            let env: [String]
        }
        let objects: [String]
        let trigger: [String: String]
        let minReplicaCount: Int?
        let maxReplicaCount: Int?
        let worker: Worker
        let console: Console
    }

    /// Renders `path` (relative to the package), validates every object and returns the facts;
    /// the ConfigMap's `worker.yaml` and `console.yaml` are written into `directory`.
    static func render(_ path: String, into directory: URL) async throws -> Facts {
        let rendered = try await runToEnd(["kubectl", "kustomize", root.appendingPathComponent(path).path])
        try #require(rendered.status == 0, "kubectl kustomize \(path): \(rendered.output)")
        let file = directory.appendingPathComponent("rendered.yaml")
        try rendered.output.write(to: file, atomically: true, encoding: .utf8)
        let script = root.appendingPathComponent("Tests/Deployment/kubernetes_manifests.py").path
        let checked = try await runToEnd(["python3", script, file.path, directory.path])
        try #require(checked.status == 0, "\(path): \(checked.output)")
        return try JSONDecoder().decode(Facts.self, from: Data(checked.output.utf8))
    }

    static func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("kubernetes-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    @Test(
        "the base and the example overlay render, and every object validates: the built-in kinds against Kubernetes' schemas, KEDA's against KEDA's, the ServiceMonitor against the Service it scrapes",
        arguments: ["deploy/kubernetes", "deploy/kubernetes/overlays/example"])
    func rendersAndValidates(_ path: String) async throws {
        let directory = try Self.temporaryDirectory()
        let facts = try await Self.render(path, into: directory)
        let environment = Dictionary(uniqueKeysWithValues: facts.worker.env.map { ($0, "set-by-the-deployment") })
        let settings = try ProvisionerConfiguration.load(path: directory.appendingPathComponent("worker.yaml").path, environment: environment)
        #expect(facts.trigger["consumerGroup"] == settings.kafka.groupId, "KEDA watches the workers' group")
        #expect(facts.trigger["topic"] == settings.kafka.commandsTopic)
        for kind in ["Deployment/provisioner-worker", "Deployment/provisioner-console", "PodDisruptionBudget/", "ScaledObject/", "ServiceMonitor/"] {
            #expect(facts.objects.contains { $0.hasPrefix(kind) }, "\(path) has a \(kind)")
        }
        let minimum = try #require(facts.minReplicaCount)
        #expect(minimum >= 1, "KEDA cannot wake a group that never committed")
        if path.hasSuffix("example") {
            #expect(facts.objects.contains("TriggerAuthentication/provisioner-kafka"))
            #expect(facts.worker.env.contains("PROVISIONER_KAFKA_PROPERTIES_SASL_PASSWORD"))
        }
    }

    @Test(
        "the manifests agree with the worker: its configuration loads with just the Deployment's environment, KEDA's trigger names its group, topic and brokers, the grace period exceeds the configured one, and every probe and scrape path answers on a running worker and console"
    )
    func agreeWithTheWorker() async throws {
        let directory = try Self.temporaryDirectory()
        let facts = try await Self.render("deploy/kubernetes", into: directory)
        let workerConfig = directory.appendingPathComponent("worker.yaml").path
        let consoleConfig = directory.appendingPathComponent("console.yaml").path
        #expect(facts.worker.args == ["run", "--config", "/etc/provisioner/kubernetes/worker.yaml"])
        #expect(facts.console.args == ["console", "--config", "/etc/provisioner/kubernetes/console.yaml"])

        // Every env: value of the configuration is one the Deployment sets, and nothing else is needed.
        let workerEnvironment = Dictionary(uniqueKeysWithValues: facts.worker.env.map { ($0, "set-by-the-deployment") })
        let settings = try ProvisionerConfiguration.load(path: workerConfig, environment: workerEnvironment)
        #expect(facts.trigger["consumerGroup"] == settings.kafka.groupId)
        #expect(facts.trigger["topic"] == settings.kafka.commandsTopic)
        #expect(facts.trigger["bootstrapServers"] == settings.kafka.bootstrapServers)
        #expect(Duration.seconds(facts.worker.terminationGracePeriodSeconds) > settings.worker.shutdownGracePeriod + .seconds(5))
        #expect(facts.worker.metricsPort == settings.observability.port)
        #expect(facts.worker.probes.values.allSatisfy { $0.port == settings.observability.port })
        let consoleEnvironment = Dictionary(uniqueKeysWithValues: facts.console.env.map { ($0, "set-by-the-deployment") })
        let consoleSettings = try ProvisionerConfiguration.load(path: consoleConfig, environment: consoleEnvironment, sections: [.kafka, .console])
        #expect(consoleSettings.console.username != nil && consoleSettings.console.password != nil, "the console starts only with console.auth")
        #expect(facts.console.httpPort == consoleSettings.console.port)
        #expect(consoleSettings.kafka.groupId == settings.kafka.groupId)

        // The same files, run here: the embedded cluster instead of the cluster's Kafka, free
        // ports, loopback.
        let broker = try ProvisionerProcess(arguments: ["broker", "--brokers", "1", "--partitions", "3"])
        defer { broker.kill() }
        let bootstrap = try await broker.firstLine()
        let port = try freePort()
        let worker = try ProvisionerProcess(
            arguments: ["run", "--config", workerConfig],
            environment: workerEnvironment.merging([
                "LOG_LEVEL": "error", "PROVISIONER_KAFKA_BOOTSTRAPSERVERS": bootstrap, "PROVISIONER_OBSERVABILITY_PORT": "\(port)",
                "PROVISIONER_KAFKA_PROPERTIES_SESSION_TIMEOUT_MS": "6000",
            ]) { _, new in new })
        defer { worker.kill() }
        let console = try ProvisionerProcess(
            arguments: ["console", "--config", consoleConfig, "--port", "0"],
            environment: consoleEnvironment.merging([
                "LOG_LEVEL": "error", "PROVISIONER_KAFKA_BOOTSTRAPSERVERS": bootstrap, "PROVISIONER_CONSOLE_HOST": "127.0.0.1",
            ]) { _, new in new })
        defer { console.kill() }
        let consoleURL = try #require(try await console.firstLine().split(separator: " ").last).description

        for (name, probe) in facts.worker.probes.sorted(by: { $0.key < $1.key }) {
            try await Self.expectOK("http://127.0.0.1:\(port)\(probe.path)", "the worker's \(name)")
        }
        for path in facts.worker.serviceMonitorPaths {
            try await Self.expectOK("http://127.0.0.1:\(port)\(path)", "the ServiceMonitor's \(path)")
        }
        for (name, probe) in facts.console.probes.sorted(by: { $0.key < $1.key }) {
            try await Self.expectOK(consoleURL.dropLast() + probe.path, "the console's \(name)")
        }
        worker.terminate()
        #expect(try await worker.exitCode() == 0)
    }

    /// Asks until `url` answers 200 (a worker is ready only once it has joined its group).
    static func expectOK(_ url: String, _ what: String) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        var last = "no answer"
        while ContinuousClock.now < deadline {
            if let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .seconds(5)) {
                if response.status == .ok { return }
                last = "\(response.status)"
            }
            try await Task.sleep(for: .milliseconds(200))
        }
        Issue.record("\(what) (\(url)) never answered 200; last: \(last)")
    }
}
