import Foundation

/// What a redrive would do, before it does it: the dead letters a filter selects, those left
/// out as redriven before, and the preview an operator confirms (contract section 11).
public struct RedrivePlan: Sendable {
    public let filter: DeadLetterFilter
    public let includeReplayed: Bool
    /// To re-publish, in the order of the dead-letter topic.
    public let letters: [DeadLetter]
    /// Matching, but redriven before (and `includeReplayed` is off).
    public let skipped: [DeadLetter]
    /// How often each dead letter was redriven before (dry runs do not count).
    public let previousCounts: [DeadLetter.Position: Int]

    public init(deadLetters: [DeadLetter], history: [RedriveRecord], filter: DeadLetterFilter, includeReplayed: Bool) {
        let counts = Self.redriven(history)
        let matching = deadLetters.filter(filter.matches).sorted { $0.position < $1.position }
        self.filter = filter
        self.includeReplayed = includeReplayed
        self.previousCounts = counts
        self.letters = matching.filter { includeReplayed || counts[$0.position] == nil }
        self.skipped = includeReplayed ? [] : matching.filter { counts[$0.position] != nil }
    }

    /// Per dead letter, how many redrives covered it. A compacted topic may still hold several
    /// records of one redrive: the last of each id counts.
    public static func redriven(_ history: [RedriveRecord]) -> [DeadLetter.Position: Int] {
        var last: [String: RedriveRecord] = [:]
        for record in history { last[record.id] = record }
        var counts: [DeadLetter.Position: Int] = [:]
        for record in last.values where !record.asDryRun {
            for position in record.coveredPositions { counts[position, default: 0] += 1 }
        }
        return counts
    }

    /// One line of the preview.
    public struct Count: Sendable, Equatable {
        public let target: String
        public let category: String
        public let count: Int

        public init(target: String, category: String, count: Int) {
            self.target = target
            self.category = category
            self.count = count
        }
    }

    /// The selected dead letters per target and category, most first.
    public var preview: [Count] {
        var counts: [String: [String: Int]] = [:]
        for letter in letters { counts[letter.target ?? "-", default: [:]][letter.category ?? "-", default: 0] += 1 }
        return counts.flatMap { target, categories in categories.map { Count(target: target, category: $0.key, count: $0.value) } }
            .sorted { ($1.count, $0.target, $0.category) < ($0.count, $1.target, $1.category) }
    }
}
