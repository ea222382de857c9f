import Foundation
import ProvisionerConfiguration
import ProvisioningContract
import Testing

/// docs/configuration.md's reference against the code: no key missing or extra, no default
/// that differs from what the reader loads.
@Suite("Configuration reference (docs/configuration.md)", .timeLimit(.minutes(10)))
struct ConfigurationReferenceTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The table's rows: key → default column.
    static func reference() throws -> [String: String] {
        let readme = try String(contentsOf: root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        let start = try #require(readme.range(of: "<!-- configuration-reference -->"))
        let end = try #require(readme.range(of: "<!-- /configuration-reference -->"))
        var rows: [String: String] = [:]
        for line in readme[start.upperBound..<end.lowerBound].split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            rows[cells[1].trimmingCharacters(in: ["`"])] = cells[2]
        }
        return rows
    }

    @Test("docs/configuration.md lists exactly the keys the configuration reader knows")
    func keys() throws {
        let documented = Set(try Self.reference().keys)
        let known = Set(ProvisionerConfiguration.knownKeys)
        #expect(documented.subtracting(known).isEmpty, "documented but unknown: \(documented.subtracting(known).sorted())")
        #expect(known.subtracting(documented).isEmpty, "known but undocumented: \(known.subtracting(documented).sorted())")
    }

    @Test("each default in docs/configuration.md is what a minimal configuration loads as")
    func defaults() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("minimal-\(UUID().uuidString).yaml").path
        try """
        kafka: { bootstrapServers: "127.0.0.1:9092", groupId: g }
        targets:
          t: { vendor: tecs, baseURL: "http://127.0.0.1:8080/x", credentials: { username: u, password: p } }
        """.write(toFile: path, atomically: true, encoding: .utf8)
        let loaded = try ProvisionerConfiguration.load(path: path, environment: [:])
        let target = try #require(loaded.targets["t"])
        let actual: [String: String] = [
            "kafka.topics.commands": loaded.kafka.commandsTopic,
            "kafka.topics.replies": loaded.kafka.repliesTopic,
            "kafka.topics.deadLetters": loaded.kafka.deadLettersTopic,
            "kafka.topics.status": loaded.kafka.statusTopic,
            "kafka.topics.replays": loaded.kafka.replaysTopic,
            "worker.maxInFlight": "\(loaded.worker.maxInFlight)",
            "worker.exactlyOnce": "\(loaded.worker.exactlyOnce)",
            "worker.shutdownGracePeriod": Self.text(loaded.worker.shutdownGracePeriod),
            "observability.port": "\(loaded.observability.port)",
            "observability.logFormat": loaded.observability.logFormat.rawValue,
            "console.host": loaded.console.host,
            "console.port": "\(loaded.console.port)",
            "console.windows.replies": "\(loaded.console.replyWindow)",
            "console.windows.commands": "\(loaded.console.commandWindow)",
            "console.windows.deadLetters": "\(loaded.console.deadLetterWindow)",
            "targets.<name>.timeout": Self.text(target.timeout),
            "targets.<name>.retry.maxAttempts": "\(target.retry.maxAttempts)",
            "targets.<name>.retry.initialBackoff": Self.text(target.retry.initialBackoff),
            "targets.<name>.retry.maxBackoff": Self.text(target.retry.maxBackoff),
            "targets.<name>.maxConcurrency": "\(target.maxConcurrency)",
        ]
        #expect(target.rateLimit == nil, "no rate limit unless configured")
        let reference = try Self.reference()
        // Every default written as a value (in backticks, not "required" or "none") is checked.
        let literal = reference.filter { $0.value.hasPrefix("`") && $0.value.hasSuffix("`") && !$0.value.contains(" ") }
        for (key, value) in literal where key != "targets.<name>.rateLimit.burst" {
            #expect(
                actual[key] == value.trimmingCharacters(in: ["`"]), "\(key): docs/configuration.md says \(value), the code loads \(actual[key] ?? "nothing")")
        }
        #expect(Set(literal.keys).subtracting(["targets.<name>.rateLimit.burst"]) == Set(actual.keys))
    }

    /// `30s`, `200ms`: how docs/configuration.md writes durations.
    static func text(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }

    @Test("the compose stack's worker configuration loads, with the same targets as the sample")
    func composeConfiguration() throws {
        let secrets = [
            "TECS_USERNAME": "u", "TECS_PASSWORD": "p", "URAC_KEY": "k", "URAC_ACCESS_TOKEN": "t",
            "SM_USERNAME": "u", "SM_PASSWORD": "p", "ASMS_USERNAME": "u", "ASMS_PASSWORD": "p",
        ]
        let compose = try ProvisionerConfiguration.load(path: Self.root.appendingPathComponent("config/compose/worker.yaml").path, environment: secrets)
        let sample = try ProvisionerConfiguration.load(path: Self.root.appendingPathComponent("config/worker.yaml").path, environment: secrets)
        #expect(compose.kafka.bootstrapServers == "kafka:9092")
        #expect(Set(compose.targets.keys) == Set(sample.targets.keys))
        #expect(compose.targets.values.allSatisfy { $0.baseURL.host == "simulator" })
    }
}
