import Foundation
import ProvisioningContract

/// A redrive's audit record (contract section 11), keyed by its id on the compacted replays
/// topic: written when it starts and again when it ends, so the topic keeps the final one.
public struct RedriveRecord: Sendable, Codable, Equatable {
    public static let currentSchema = "provisioning.dlq.replay/v1"

    public enum State: String, Sendable, Codable {
        case running, paused, completed, cancelled, failed
    }

    public var schema = RedriveRecord.currentSchema
    public var id: String
    /// When it started, RFC 3339 with milliseconds.
    public var at: String
    /// `cli@host`, or the console user.
    public var by: String
    public var filters: DeadLetterFilter
    public var includeReplayed: Bool
    /// Re-sent with `"dryRun": true`: the workers answer with the request they would send, and
    /// the dead letters do not count as redriven.
    public var asDryRun: Bool
    /// Records a second, when paced.
    public var rate: Double?
    public var state: State
    /// Dead letters selected, and those skipped as redriven before.
    public var selected: Int
    public var skipped: Int
    /// The dead letters re-published so far, as runs of offsets per partition (a redrive of a
    /// hundred thousand stays one small record).
    public var covered: [CoveredRange]
    /// Selected but not sent: re-sent as a dry run, a value that is not a JSON object cannot
    /// say `"dryRun": true`.
    public var unsent: Int
    public var endedAt: String?
    /// Why it failed, when it did.
    public var error: String?

    public init(
        id: String, at: Date, by: String, filters: DeadLetterFilter, includeReplayed: Bool, asDryRun: Bool, rate: Double?, selected: Int, skipped: Int
    ) {
        self.id = id
        self.at = Timestamp.format(at)
        self.by = by
        self.filters = filters
        self.includeReplayed = includeReplayed
        self.asDryRun = asDryRun
        self.rate = rate
        self.state = .running
        self.selected = selected
        self.skipped = skipped
        self.covered = []
        self.unsent = 0
    }

    /// Offsets `from` through `through` of a partition of the dead-letter topic.
    public struct CoveredRange: Sendable, Codable, Equatable {
        public var partition: Int32
        public var from: Int64
        public var through: Int64
    }

    /// Every position covered.
    public var coveredPositions: [DeadLetter.Position] {
        covered.flatMap { range in (range.from...range.through).map { DeadLetter.Position(partition: range.partition, offset: $0) } }
    }

    /// Adds positions, sorted and merged into runs.
    mutating func cover(_ positions: [DeadLetter.Position]) {
        var all = Set(coveredPositions)
        all.formUnion(positions)
        var ranges: [CoveredRange] = []
        for position in all.sorted() {
            if let last = ranges.last, last.partition == position.partition, last.through + 1 == position.offset {
                ranges[ranges.count - 1].through = position.offset
            } else {
                ranges.append(CoveredRange(partition: position.partition, from: position.offset, through: position.offset))
            }
        }
        covered = ranges
    }

    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try encoder.encode(self))
    }

    public static func decode(_ bytes: [UInt8]) throws -> RedriveRecord {
        try JSONDecoder().decode(RedriveRecord.self, from: Data(bytes))
    }
}
