import Foundation
import Kafka
import Logging
import ProvisioningContract
import Testing

/// The series the alert rules and the dashboard query exist on a worker to which nothing has
/// happened: an `increase(...) > 0` alert sees a series born at 1 as no increase, and a panel
/// without a series shows no data.
@Suite("Metrics from start", .timeLimit(.minutes(10)))
struct MetricsFromStartTests {
    static let root = ObservabilityEndToEndTests.root

    /// What deploy/prometheus/alerts.yml and deploy/grafana/provisioner.json query: each
    /// metric name, and the label values they match on (`job` aside, which Prometheus adds).
    static func queried() throws -> [(metric: String, label: String?, values: [String])] {
        let rules = try String(contentsOf: root.appendingPathComponent("deploy/prometheus/alerts.yml"), encoding: .utf8)
        let dashboard = try String(contentsOf: root.appendingPathComponent("deploy/grafana/provisioner.json"), encoding: .utf8)
            .replacingOccurrences(of: #"\""#, with: "\"")
        var found: [(String, String?, [String])] = []
        for match in (rules + "\n" + dashboard).matches(of: /(provisioner_[a-z_]+)(\{[^}]*\})?/) {
            let metric = String(match.output.1)
            found.append((metric, nil, []))
            for matcher in (match.output.2.map(String.init) ?? "").matches(of: /(\w+)=~?"([^"]*)"/) where matcher.output.1 != "job" {
                found.append((metric, String(matcher.output.1), matcher.output.2.split(separator: "|").map(String.init)))
            }
        }
        return found
    }

    @Test(
        "a worker that processed nothing exposes every series the alert rules and the dashboard query, with a dead-letter series at zero for every category that dead-letters"
    )
    func everyQueriedSeriesExists() async throws {
        let queried = try Self.queried()
        #expect(Set(queried.map(\.metric)).count >= 12, "the rules and the dashboard were read: \(queried.map(\.metric))")

        let broker = try ProvisionerProcess(arguments: ["broker", "--brokers", "1", "--partitions", "3"])
        defer { broker.kill() }
        let bootstrap = try await broker.firstLine()
        let healthPort = try freePort()
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("metrics-\(UUID().uuidString).yaml").path
        try """
        kafka: { bootstrapServers: \(bootstrap), groupId: metrics-workers, properties: { session.timeout.ms: "6000" } }
        observability: { port: \(healthPort) }
        targets:
          tecs-test: { vendor: tecs, baseURL: "http://127.0.0.1:9/usermanagement-backofficews", credentials: { username: u, password: p } }
        """.write(toFile: config, atomically: true, encoding: .utf8)

        var logger = Logger(label: "metrics-test")
        logger.logLevel = .critical
        let reader = KafkaTopicReader(bootstrapServers: bootstrap, topic: "provisioning.status", logger: logger)
        let worker = try ProvisionerProcess(arguments: ["run", "--config", config], environment: ["LOG_LEVEL": "error"])
        defer { worker.kill() }

        // Its status record names its partitions once it has them: it is in its group.
        var records: [WorkerStatusTests.Received] = []
        _ = try await WorkerStatusTests.read(reader, into: &records) { $0.partitions.count == 3 }

        let metrics = try await httpGet("http://127.0.0.1:\(healthPort)/metrics")
        #expect(metrics.status == 200)
        let samples = metrics.body.split(separator: "\n").filter { !$0.hasPrefix("#") }.map(String.init)
        func exists(_ metric: String, _ label: String? = nil, _ value: String? = nil) -> Bool {
            samples.contains { sample in
                (sample.hasPrefix(metric + "{") || sample.hasPrefix(metric + " ")) && (label.map { sample.contains("\($0)=\"\(value ?? "")\"") } ?? true)
            }
        }
        for (metric, label, values) in queried {
            if let label {
                for value in values { #expect(exists(metric, label, value), "\(metric){\(label)=\"\(value)\"}") }
            } else {
                #expect(exists(metric), "\(metric)")
            }
        }
        for category in ErrorCategory.allCases where category.isDeadLettered {
            #expect(exists("provisioner_dead_letters_total", "category", category.rawValue), "dead letters of \(category.rawValue)")
        }
        #expect(samples.contains("provisioner_commands_consumed_total 0"), "it processed nothing")

        worker.terminate()
        #expect(try await worker.exitCode() == 0)
    }
}
