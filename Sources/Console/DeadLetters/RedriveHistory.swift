import Redrive
import Synchronization

/// The redrive audit (contract section 11), newest record of each redrive, at most `capacity`.
final class RedriveHistory: Sendable {
    private let capacity: Int
    private let records = Mutex<[String: RedriveRecord]>([:])

    init(capacity: Int) {
        self.capacity = capacity
    }

    func observe(_ record: RedriveRecord) {
        records.withLock { records in
            // An ended redrive's record (from the desk, first) is not undone by its earlier
            // records arriving from the topic afterwards.
            if let known = records[record.id], known.endedAt != nil, record.endedAt == nil { return }
            records[record.id] = record
            if records.count > capacity, let oldest = records.min(by: { $0.value.at < $1.value.at })?.key { records[oldest] = nil }
        }
    }

    /// Newest first.
    var all: [RedriveRecord] { records.withLock { $0.values.sorted { $0.at > $1.at } } }

    /// How often each dead letter was redriven (dry runs do not count).
    var redriven: [DeadLetter.Position: Int] { RedrivePlan.redriven(all) }
}
