import DequeModule
import Foundation
import Kafka
import Redrive
import Synchronization

/// The newest dead letters, at most `capacity` of them: the console's memory does not grow
/// with the topic. Older ones are still redriven by `provisioner dlq replay`, which reads it all.
final class DeadLetterWindow: Sendable {
    private struct State {
        var letters = Deque<DeadLetter>()
        var seen = 0
    }

    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int) {
        self.capacity = capacity
    }

    func observe(_ message: KafkaConsumerMessage) {
        let letter = DeadLetter(message)
        state.withLock { state in
            state.letters.append(letter)
            state.seen += 1
            if state.letters.count > capacity { state.letters.removeFirst() }
        }
    }

    /// Newest first.
    func matching(_ filter: DeadLetterFilter) -> [DeadLetter] {
        state.withLock { $0.letters.reversed().filter(filter.matches) }
    }

    func letter(at position: DeadLetter.Position) -> DeadLetter? {
        state.withLock { $0.letters.last { $0.position == position } }
    }

    /// Every dead letter in the window, in topic order (what a redrive plan selects from).
    var all: [DeadLetter] { state.withLock { Array($0.letters) } }

    /// Dead letters read so far, and how many of them the window holds.
    var counts: (seen: Int, held: Int) { state.withLock { ($0.seen, $0.letters.count) } }
}

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
