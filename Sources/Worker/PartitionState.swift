import DequeModule
import Kafka

/// Everything the worker keeps about one assigned partition. Owned by `WorkerStateMachine`.
///
/// Invariants (checked by the property tests after every event):
/// - a key's jobs are in offset order, and only its head runs, waits for a retry or waits for a slot;
/// - `offsets` never lets a commit pass an offset received and not yet acknowledged;
/// - records after a gap are neither started nor tracked until the gap is read again.
struct PartitionState {
    /// Which assignment this is (see `Job.epoch`).
    let epoch: UInt64
    /// Per key, the jobs not yet handed off, in offset order; the head runs, is parked, or waits.
    var queues: [String: Deque<Job>] = [:]
    /// Keys whose head runs now.
    var running: Set<String> = []
    /// Keys whose head waits for a retry: it holds its key, not a slot.
    var parked: Set<String> = []
    /// Received, acknowledged and committed offsets.
    var offsets = OffsetTracker()
    /// The offset the next record must have: the group's committed position at assignment (when
    /// known), then one past each record. Kafka hands out a partition without holes unless
    /// records were removed (compaction, retention, transaction markers).
    var expected: Int64?
    /// Set while the partition is read again from this offset after a gap; the record that
    /// showed the gap had offset `seen`.
    var rereading: (from: Int64, seen: Int64)?
    /// The highest offset started: queued jobs below it must still run, or the commit could
    /// never pass it.
    var highestStarted: Int64 = .min
    /// Jobs started since the group last accepted a commit for the partition: what its next
    /// owner repeats if this worker dies now.
    var startedSinceCommit = 0
    /// Keys held back at `maxUncommittedPerPartition`, in arrival order, and since when.
    var held = Deque<String>()
    var heldSince: ContinuousClock.Instant?
    var paused = false
    /// Jobs received and not yet acknowledged, and their bytes.
    var queued = 0
    var queuedBytes = 0
    /// Jobs handed off whose records Kafka has not acknowledged yet.
    var awaitingAcknowledgement = 0
    /// Being revoked: nothing new starts; its revocation is released once it is idle.
    var revoking = false
    /// The group's last accepted commit of the partition (for the status record).
    var acceptedCommit: Int64?

    init(epoch: UInt64, start: Int64?) {
        self.epoch = epoch
        self.expected = start
        self.acceptedCommit = start
    }

    /// Whether anything of the partition still runs or waits for Kafka.
    var isBusy: Bool { !running.isEmpty || awaitingAcknowledgement > 0 }

    /// What a record at `offset` means for the partition's sequence.
    enum Arrival: Equatable {
        /// The next record: take it.
        case next
        /// Records before it are missing: read the partition again from `from`.
        case gap(from: Int64)
        /// Read again, the records of a gap still did not come: Kafka has none there
        /// (compaction, retention, transaction markers). Take it; `missing` are skipped.
        case confirmedGap(missing: Range<Int64>)
        /// Already received (Kafka re-delivered it) or left over from before a re-read: drop it.
        case repeated
    }

    mutating func classify(_ offset: Int64) -> Arrival {
        if let (from, seen) = rereading {
            if offset == from {
                rereading = nil
                expected = offset + 1
                return .next
            }
            if offset > from, offset <= seen {
                rereading = nil
                expected = offset + 1
                return .confirmedGap(missing: from..<offset)
            }
            return .repeated
        }
        guard let next = expected else {
            expected = offset + 1
            return .next
        }
        if offset == next {
            expected = offset + 1
            return .next
        }
        if offset < next { return .repeated }
        rereading = (next, offset)
        return .gap(from: next)
    }
}
