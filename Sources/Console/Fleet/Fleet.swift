import Foundation
import ProvisioningContract
import Synchronization

/// The worker fleet as the status topic tells it: each worker's newest record. Bounded by
/// `capacity` workers: past it, the one heard from longest ago is forgotten.
final class Fleet: Sendable {
    enum Presence: String, Sendable {
        case running, stopping, stopped
        /// Silent for three status intervals without saying it stopped (killed, partitioned).
        case gone
    }

    struct Member: Sendable {
        let status: WorkerStatus
        /// The record's own time (`at`), when it parses.
        let at: Date
        let presence: Presence
    }

    private let interval: Duration
    private let capacity: Int
    private let latest = Mutex<[String: WorkerStatus]>([:])

    init(interval: Duration, capacity: Int) {
        self.interval = interval
        self.capacity = capacity
    }

    func observe(_ status: WorkerStatus) {
        latest.withLock { latest in
            if let known = latest[status.worker], known.at > status.at { return }
            latest[status.worker] = status
            if latest.count > capacity, let oldest = latest.min(by: { $0.value.at < $1.value.at })?.key { latest[oldest] = nil }
        }
    }

    /// Every known worker, running ones first, then by id.
    func members(now: Date = Date()) -> [Member] {
        let statuses = latest.withLock { Array($0.values) }
        let silence = Double(interval.components.seconds) * 3 + Double(interval.components.attoseconds) * 3e-18
        let members = statuses.map { status -> Member in
            let at = (try? Timestamp.parse(status.at)) ?? .distantPast
            let presence: Presence =
                switch status.state {
                case .stopped: .stopped
                case _ where now.timeIntervalSince(at) > silence: .gone
                case .stopping: .stopping
                case .running: .running
                }
            return Member(status: status, at: at, presence: presence)
        }
        let order: [Presence: Int] = [.running: 0, .stopping: 1, .gone: 2, .stopped: 3]
        return members.sorted { (order[$0.presence]!, $0.status.worker) < (order[$1.presence]!, $1.status.worker) }
    }
}
