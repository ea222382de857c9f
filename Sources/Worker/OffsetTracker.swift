import DequeModule

/// Which offsets of one partition are done, and so how far the partition may be committed:
/// up to the highest offset below which everything is done (contract section 6). Commands of
/// different keys finish out of order; the commit never passes one still running.
struct OffsetTracker: Sendable {
    /// Received and not yet covered by `committable`, in offset order.
    private var outstanding = Deque<Int64>()
    private var done: Set<Int64> = []
    /// The first offset received.
    private(set) var start: Int64?
    /// The next offset to read once everything before it is done; nil until something is done.
    private(set) var committable: Int64?
    /// What was last handed out for committing.
    var committed: Int64?

    /// Offsets must arrive in increasing order (`PartitionState.classify` sees to it).
    mutating func received(_ offset: Int64) {
        if start == nil { start = offset }
        outstanding.append(offset)
    }

    mutating func completed(_ offset: Int64) {
        done.insert(offset)
        while let first = outstanding.first, done.remove(first) != nil {
            outstanding.removeFirst()
            committable = first + 1
        }
    }

    /// The offset to commit if it moved since the last commit.
    var pendingCommit: Int64? {
        guard let committable, committable != committed else { return nil }
        return committable
    }
}
