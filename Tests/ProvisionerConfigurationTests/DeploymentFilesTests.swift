import Foundation
import TestSupport
import Testing

/// `docker-compose.yml` and the `Dockerfile`, which no machine here can run (no Docker engine):
/// linted and checked for the shape the README promises.
@Suite("Deployment files", .timeLimit(.minutes(10)))
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

    @Test("the alert rules: promtool accepts them, and its unit tests fire each alert on a failing series and keep it quiet on a healthy one")
    func alertRules() async throws {
        let rules = Self.root.appendingPathComponent("deploy/prometheus/alerts.yml").path
        let checked = try await runToEnd(["promtool", "check", "rules", rules])
        #expect(checked.status == 0, "\(checked.output)")
        #expect(checked.output.contains("SUCCESS: 14 rules found"))
        let tested = try await runToEnd(["promtool", "test", "rules", Self.root.appendingPathComponent("deploy/prometheus/alerts.test.yml").path])
        #expect(tested.status == 0 && tested.output.contains("SUCCESS"), "\(tested.output)")
        // Every alert has a test.
        let tests = try String(contentsOfFile: Self.root.appendingPathComponent("deploy/prometheus/alerts.test.yml").path, encoding: .utf8)
        for alert in try String(contentsOfFile: rules, encoding: .utf8).matches(of: /- alert: (\w+)/).map({ String($0.output.1) }) {
            #expect(tests.contains("alertname: \(alert)"), "\(alert) has no unit test")
        }
    }

    @Test(
        "the Grafana dashboard: every panel queries Prometheus through the datasource variable, panel ids are unique, and it covers throughput, failures, dead letters, vendor latency, breakers, lag and in-flight"
    )
    func dashboard() throws {
        let data = try Data(contentsOf: Self.root.appendingPathComponent("deploy/grafana/provisioner.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let panels = try #require(dashboard["panels"] as? [[String: Any]])
        let ids = panels.compactMap { $0["id"] as? Int }
        #expect(ids.count == panels.count && Set(ids).count == ids.count)
        var queries: [String] = []
        for panel in panels {
            #expect((panel["datasource"] as? [String: String])?["uid"] == "${datasource}", "\(panel["title"] ?? "")")
            let targets = panel["targets"] as? [[String: Any]] ?? []
            #expect(!targets.isEmpty, "\(panel["title"] ?? "") has no query")
            queries += targets.compactMap { $0["expr"] as? String }
        }
        for metric in [
            "provisioner_replies_total", "provisioner_dead_letters_total", "provisioner_vendor_call_duration_seconds_bucket",
            "provisioner_circuit_breaker_state", "provisioner_consumer_lag", "provisioner_commands_in_flight",
        ] {
            #expect(queries.contains { $0.contains(metric) }, "a panel shows \(metric)")
        }
        #expect(queries.contains { $0.contains(#"status="failed""#) }, "failures by category")
    }
}
