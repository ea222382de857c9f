import ArgumentParser
import Assembly
import Foundation
import Kafka
import Logging
import ProvisionerConfiguration
import ProvisioningContract
import ServiceLifecycle

/// `provisioner replies`: what the workers answered, with counts and latencies.
struct Replies: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show the replies topic with counts by status and category and latency percentiles.")

    enum Format: String, ExpressibleByArgument { case table, json }

    @Option(help: "The configuration file (only its kafka section is used).")
    var config = "config/worker.yaml"

    @Flag(help: "Keep showing replies as they arrive; the summary comes at Ctrl-C.")
    var follow = false

    @Option(help: "table or json (one reply a line, then a summary line).")
    var format: Format = .table

    func run() async throws {
        var logger = Logger(label: "provisioner.replies")
        logger.logLevel = .error
        let settings = try ConfigurationLoader.load(config, sections: .kafka)
        try await KafkaReachability.check(settings.kafka, logger: logger)
        let reader = KafkaTopicReader(settings.kafka, topic: settings.kafka.repliesTopic, logger: logger)
        var summary = ReplySummary()
        if format == .table { Console.line(ReplySummary.header) }
        let show: (KafkaConsumerMessage) -> Void = { message in
            guard let value = message.value, let reply = try? ProvisioningReply(decoding: value) else { return }
            let duplicate = summary.add(reply)
            Console.line(format == .json ? String(decoding: value, as: UTF8.self) : ReplySummary.row(reply, duplicate: duplicate))
        }
        if follow {
            let collected = LockedSummary()
            let format = self.format
            let follower = KafkaTopicFollower(reader) { message in
                guard let value = message.value, let reply = try? ProvisioningReply(decoding: value) else { return }
                let duplicate = collected.add(reply)
                Console.line(format == .json ? String(decoding: value, as: UTF8.self) : ReplySummary.row(reply, duplicate: duplicate))
            }
            // Follows until SIGINT or SIGTERM, then prints the summary of what it saw.
            try await ServiceGroup(configuration: .init(services: [follower], gracefulShutdownSignals: [.sigint, .sigterm], logger: logger)).run()
            summary = collected.summary
        } else {
            for message in try await reader.readToEnd() { show(message) }
        }
        Console.line(format == .json ? summary.json : summary.table)
    }
}

/// Counts, duplicates and latency percentiles of a stream of replies.
struct ReplySummary {
    var seen: Set<String> = []
    var byStatus: [String: Int] = [:]
    var byCategory: [String: Int] = [:]
    var durations: [Double] = []
    var duplicates = 0
    var total = 0

    /// Adds a reply; true when its commandId was answered before.
    mutating func add(_ reply: ProvisioningReply) -> Bool {
        total += 1
        byStatus[reply.status.rawValue, default: 0] += 1
        if let category = reply.error?.category { byCategory[category.rawValue, default: 0] += 1 }
        durations.append(reply.durationMs)
        guard let id = reply.commandId else { return false }
        if seen.insert(id).inserted { return false }
        duplicates += 1
        return true
    }

    static let header = pad("commandId", 38) + pad("status", 10) + pad("category/code", 34) + pad("target", 22) + pad("operation", 16) + "ms"

    static func row(_ reply: ProvisioningReply, duplicate: Bool) -> String {
        let error = reply.error.map { "\($0.category.rawValue)/\($0.code)" } ?? ""
        return pad((reply.commandId ?? "-") + (duplicate ? " (dup)" : ""), 38) + pad(reply.status.rawValue, 10) + pad(error, 34)
            + pad(reply.target ?? "-", 22) + pad(reply.operation ?? "-", 16) + String(format: "%.1f", reply.durationMs)
    }

    private static func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? String(text.prefix(width - 1)) + " " : text + String(repeating: " ", count: width - text.count)
    }

    func percentile(_ p: Double) -> Double {
        guard !durations.isEmpty else { return 0 }
        let sorted = durations.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * p).rounded(.up)) - 1 < 0 ? 0 : Int((Double(sorted.count) * p).rounded(.up)) - 1)]
    }

    var table: String {
        var lines = ["", "\(total) replies, \(duplicates) duplicate\(duplicates == 1 ? "" : "s")"]
        lines.append("by status:   " + byStatus.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))
        lines.append(
            "by category: " + (byCategory.isEmpty ? "-" : byCategory.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))
        lines.append(
            String(format: "latency ms:  p50 %.1f, p95 %.1f, p99 %.1f, max %.1f", percentile(0.5), percentile(0.95), percentile(0.99), durations.max() ?? 0))
        return lines.joined(separator: "\n")
    }

    var json: String {
        let object: [String: Any] = [
            "summary": [
                "total": total, "duplicates": duplicates, "byStatus": byStatus, "byCategory": byCategory,
                "latencyMs": ["p50": percentile(0.5), "p95": percentile(0.95), "p99": percentile(0.99), "max": durations.max() ?? 0],
            ] as [String: Any]
        ]
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// A summary filled from the follow task.
final class LockedSummary: @unchecked Sendable {
    private let lock = NSLock()
    private var value = ReplySummary()

    func add(_ reply: ProvisioningReply) -> Bool {
        lock.withLock { value.add(reply) }
    }

    var summary: ReplySummary { lock.withLock { value } }
}
