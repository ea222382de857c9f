import Foundation
import Kafka
import Logging
import ProvisioningContract
import TestSupport
import Testing

/// Contract section 10 as the console sees it: the status topic, read from another process.
@Suite("Worker status records", .timeLimit(.minutes(10)))
struct WorkerStatusTests {
    @Test("a running worker publishes its status every 5 s (partitions, targets, counts), a last one as stopped, all matching the schema")
    func statusRecords() async throws {
        let broker = try ProvisionerProcess(arguments: ["broker", "--brokers", "1", "--partitions", "6"])
        defer { broker.kill() }
        let bootstrap = try await broker.firstLine()
        let simulator = try ProvisionerProcess(arguments: ["simulate", "--port", "0"])
        defer { simulator.kill() }
        let simulatorURL = try #require(try await simulator.firstLine().split(separator: " ").first { $0.hasPrefix("http://") }).description
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("status-\(UUID().uuidString).yaml").path
        try """
        kafka:
          bootstrapServers: \(bootstrap)
          groupId: status-workers
          properties: { session.timeout.ms: "6000", statistics.interval.ms: "1000" }
        worker: { maxInFlight: 32 }
        observability: { port: 0 }
        targets:
          tecs-test: { vendor: tecs, baseURL: "\(simulatorURL)/usermanagement-backofficews", credentials: { username: User1, password: Password1 } }
        """.write(toFile: config, atomically: true, encoding: .utf8)

        var logger = Logger(label: "status-test")
        logger.logLevel = .critical
        let reader = KafkaTopicReader(bootstrapServers: bootstrap, topic: "provisioning.status", logger: logger)
        let worker = try ProvisionerProcess(arguments: ["run", "--config", config], environment: ["LOG_LEVEL": "error"])
        defer { worker.kill() }

        let commands = (0..<20).map {
            #"{"commandId":"status-\#($0)","target":"tecs-test","operation":"createUser","user":{"userName":"status-user-\#($0)","email":"s\#($0)@example.com"}}"#
        }
        let sender = try ProvisionerProcess(arguments: ["send", "--config", config], environment: ["LOG_LEVEL": "error"])
        try sender.send(commands.joined(separator: "\n") + "\n")
        #expect(try await sender.exitCode() == 0)

        // Records as they come, until one shows all 20 answered on all six partitions.
        var records: [Received] = []
        let running = try await Self.read(reader, into: &records) {
            $0.state == .running && $0.partitions.count == 6 && $0.targets["tecs-test"]?.succeeded == 20
        }
        #expect(running.schema == "provisioning.status/v1")
        #expect(running.group == "status-workers")
        #expect(running.maxInFlight == 32)
        #expect(!running.version.isEmpty)
        #expect(Set(running.partitions.map(\.partition)) == Set(0..<6))
        #expect(running.partitions.allSatisfy { $0.topic == "provisioning.commands" && !$0.paused })
        #expect(running.partitions.map(\.queued).reduce(0, +) == 0, "nothing left queued: \(running.partitions)")
        #expect(running.targets["tecs-test"] == WorkerStatus.Target(breaker: "closed", inFlight: 0, succeeded: 20, failed: 0, retries: 0))
        #expect(running.startedAt <= running.at)

        // Commits and lag come with the next commit and statistics sample, in a later record.
        let settled = try await Self.read(reader, into: &records) {
            $0.partitions.count == 6 && $0.partitions.allSatisfy { $0.committed != nil && $0.lag == 0 }
        }
        #expect(settled.partitions.compactMap(\.committed).reduce(0, +) == 20, "the commits cover the 20 commands: \(settled.partitions)")

        // SIGTERM: the last record says stopped.
        worker.terminate()
        #expect(try await worker.exitCode() == 0)
        let stopped = try await Self.read(reader, into: &records) { $0.state == .stopped }
        #expect(stopped.worker == running.worker)
        #expect(Set(records.map(\.status.worker)) == [running.worker], "one worker, one id")
        #expect(records.allSatisfy { $0.key == $0.status.worker }, "keyed by the worker id")
        // Every 5 s: consecutive records are never closer (a lower bound holds on a loaded machine too).
        let times = try records.map { try Timestamp.parse($0.status.at) }
        #expect(times.count >= 3)
        for (earlier, later) in zip(times, times.dropFirst()) where later != times.last {
            #expect(later.timeIntervalSince(earlier) >= 4.5, "records \(earlier) and \(later)")
        }

        // Every record, as it came, against the published schema.
        let lines = try records.map { record in
            let value = try JSONSerialization.jsonObject(with: Data(record.value))
            return String(decoding: try JSONSerialization.data(withJSONObject: ["kind": "status", "value": value]), as: UTF8.self)
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("status-\(UUID().uuidString).jsonl").path
        try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let validation = try await ObservabilityEndToEndTests.validate(["records", file])
        #expect(validation.status == 0, "\(validation.output)")
        #expect(validation.output.contains("\(records.count) status; 0 problem(s)"), "\(validation.output)")
    }

    /// A status record as read: where it is, its key, its bytes and what they say.
    struct Received {
        let partition: Int32
        let offset: Int64
        let key: String?
        let value: [UInt8]
        let status: WorkerStatus
    }

    /// Reads the records after `records` into it until one meets `condition`; returns that one.
    static func read(_ reader: KafkaTopicReader, into records: inout [Received], until condition: @escaping @Sendable (WorkerStatus) -> Bool)
        async throws -> WorkerStatus
    {
        var next: [Int32: Int64] = [:]
        for record in records { next[record.partition] = max(next[record.partition] ?? 0, record.offset + 1) }
        let start = KafkaTopicReader.Start.offsets(next)
        let read = try await withDeadline(90) { () -> [Received] in
            var seen: [Received] = []
            try await reader.follow(from: start) { message in
                let value = message.value ?? []
                let status = try WorkerStatus.decode(value)
                seen.append(
                    Received(
                        partition: message.partition, offset: message.offset, key: message.key.map { String(decoding: $0, as: UTF8.self) }, value: value,
                        status: status))
                return !condition(status)
            }
            return seen
        }
        records += read
        guard let last = read.last?.status, condition(last) else {
            throw CLIError("the status topic ended; last record: \(String(describing: records.last?.status))")
        }
        return last
    }
}
