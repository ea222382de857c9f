import Foundation
import Kafka
import Logging
import TestSupport
import Testing

/// `observability.otlp`: the worker's spans over OTLP/HTTP, in a build with the `OTLP` package
/// trait (`swift test --traits OTLP --filter OTLPExportTests`, `scripts/test`'s `otlp`
/// phase); the default build refuses the key instead of ignoring it.
@Suite("OTLP export", .timeLimit(.minutes(10)))
struct OTLPExportTests {
    static func config(bootstrap: String, otlp: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("otlp-\(UUID().uuidString).yaml").path
        try """
        kafka: { bootstrapServers: "\(bootstrap)", groupId: otlp-workers, properties: { session.timeout.ms: "6000" } }
        observability: { port: 0, otlp: \(otlp) }
        targets:
          tecs-test: { vendor: tecs, baseURL: "http://127.0.0.1:9/x", credentials: { username: u, password: p } }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    #if OTLP
        @Test(
            "a command's span reaches an OTLP/HTTP receiver with the command's trace id and its target, operation and status, and every export carries the configured header"
        )
        func spansArrive() async throws {
            let broker = try ProvisionerProcess(arguments: ["broker", "--brokers", "1", "--partitions", "3"])
            defer { broker.kill() }
            let bootstrap = try await broker.firstLine()
            let script = ObservabilityEndToEndTests.root.appendingPathComponent("Tests/Deployment/otlp_receiver.py").path
            let receiver = try ChildProcess("/usr/bin/env", ["python3", script], error: .null)
            defer { receiver.send(SIGKILL) }
            let endpoint = try #require(try await receiver.readLine(upTo: .seconds(30))?.split(separator: " ").last).description
            let config = try Self.config(bootstrap: bootstrap, otlp: #"{ endpoint: "\#(endpoint)", headers: { x-api-key: env:OTLP_TEST_KEY } }"#)
            let worker = try ProvisionerProcess(
                arguments: ["run", "--config", config], environment: ["LOG_LEVEL": "warning", "OTLP_TEST_KEY": "Zq7-otlp-key"])
            defer { worker.kill() }

            // A command from upstream with a trace of its own; deleteUser is not a TECS
            // operation, so it is answered (failed) without a vendor.
            let traceId = "4bf92f3577b34da6a3ce929d0e0e4736"
            var logger = Logger(label: "otlp-test")
            logger.logLevel = .critical
            try await KafkaProducer.with(configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap), logger: logger) { producer in
                _ = try producer.enqueue(
                    KafkaProducerMessage(
                        topic: "provisioning.commands", key: "tecs-test:u1",
                        value: #"{"commandId":"otlp-1","target":"tecs-test","operation":"deleteUser","userId":"u1"}"#,
                        headers: [KafkaHeader(key: "traceparent", value: "00-\(traceId)-00f067aa0ba902b7-01")]))
                try await producer.flush()
            }

            var headers: [String: String] = [:]
            var span: [String: Any]?
            while span == nil, let line = try await receiver.readLine(upTo: .seconds(90)) {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                if let received = object["headers"] as? [String: String] { headers = received }
                if object["traceId"] as? String == traceId, object["name"] as? String == "provisioning.command" { span = object }
            }
            let attributes = try #require(span?["attributes"] as? [String: Any], "the command's span arrived")
            #expect(attributes["provisioning.target"] as? String == "tecs-test")
            #expect(attributes["provisioning.operation"] as? String == "deleteUser")
            #expect(attributes["provisioning.status"] as? String == "failed")
            #expect((span?["resource"] as? [String: Any])?["service.name"] as? String == "provisioner")
            #expect(headers["x-api-key"] == "Zq7-otlp-key")
            worker.terminate()
            #expect(try await worker.exitCode() == 0)
            #expect(!worker.errorsSoFar.contains("Zq7-otlp-key"), "the header's value is a secret")
        }
    #else
        @Test("a build without the OTLP trait refuses observability.otlp: exit 64, naming the key and the trait")
        func refusedWithoutTheTrait() async throws {
            let config = try Self.config(bootstrap: "127.0.0.1:9", otlp: #"{ endpoint: "http://127.0.0.1:4318" }"#)
            let worker = try ProvisionerProcess(arguments: ["run", "--config", config], environment: ["LOG_LEVEL": "warning"])
            #expect(try await worker.exitCode() == 64)
            let stderr = await worker.outputs().stderr
            #expect(stderr.contains("observability.otlp") && stderr.contains("--traits OTLP"), "\(stderr)")
        }
    #endif

    @Test("a bad observability.otlp is a configuration error naming the key: no endpoint, a non-HTTP endpoint, another protocol")
    func badConfiguration() async throws {
        for (otlp, key) in [
            (#"{ headers: { a: b } }"#, "observability.otlp.endpoint"), (#"{ endpoint: "grpc://x:4317" }"#, "observability.otlp.endpoint"),
            (#"{ endpoint: "http://x:4318", protocol: grpc }"#, "observability.otlp.protocol"),
        ] {
            let worker = try ProvisionerProcess(
                arguments: ["run", "--config", try Self.config(bootstrap: "127.0.0.1:9", otlp: otlp)], environment: ["LOG_LEVEL": "warning"])
            #expect(try await worker.exitCode() == 64)
            let stderr = await worker.outputs().stderr
            #expect(stderr.contains(key), "\(otlp): \(stderr)")
        }
    }
}
