import Foundation
import TestSupport
import Testing

/// `docker-compose.yml` and the `Dockerfile`, which no machine here can run (no Docker engine):
/// linted and checked for the shape the README promises.
@Suite("Deployment files")
struct DeploymentFilesTests {
    static let root = ConfigurationReferenceTests.root

    @Test("docker-compose config accepts the compose file; it has Kafka in KRaft mode, the topic job, the simulator, three workers and Prometheus")
    func compose() async throws {
        // Debian's docker-compose (installed by scripts/bootstrap) validates and normalises the file.
        let compose = try ChildProcess(
            "/usr/bin/env",
            ["docker-compose", "--project-directory", Self.root.path, "-f", Self.root.appendingPathComponent("docker-compose.yml").path, "config"],
            error: .pipe)
        // Its warnings are a few lines: standard error cannot fill up while standard output is read.
        let normalised = try await compose.readToEnd()
        let problems = try await compose.readErrorsToEnd()
        #expect(try await compose.wait() == .exit(0), "docker-compose config: \(problems)")

        for service in ["kafka", "topics", "simulator", "worker", "prometheus"] {
            #expect(normalised.contains("\n  \(service):\n"), "service \(service)")
        }
        #expect(normalised.contains("image: apache/kafka:"))
        #expect(normalised.contains("KAFKA_PROCESS_ROLES: broker,controller"), "KRaft, no ZooKeeper")
        #expect(normalised.contains("replicas: 3"))
        #expect(normalised.contains("condition: service_completed_successfully"), "workers wait for the topics")
        #expect(normalised.contains("kafka-topics.sh"))
    }

    @Test("the Dockerfile builds in a Swift image and runs on slim Debian with librdkafka, as a non-root user")
    func dockerfile() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("Dockerfile"), encoding: .utf8)
        let stages = text.split(separator: "\n").filter { $0.hasPrefix("FROM ") }
        #expect(stages.count == 2, "multi-stage: \(stages)")
        #expect(stages.first?.contains("swift:") == true && stages.first?.contains(" AS build") == true)
        #expect(stages.last?.contains("debian:bookworm-slim") == true)
        #expect(text.contains("librdkafka-dev") && text.contains("librdkafka1"))
        let user = try #require(text.split(separator: "\n").last { $0.hasPrefix("USER ") })
        #expect(!user.contains("root") && !user.hasSuffix(" 0") && !user.contains(" 0:"), "\(user)")
        // Everything the build stage copies exists.
        for line in text.split(separator: "\n") where line.hasPrefix("COPY ") && !line.contains("--from") {
            let source = String(line.split(separator: " ")[1])
            #expect(FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(source).path), "\(source)")
        }
    }
}
