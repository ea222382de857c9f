import DequeModule
import Foundation
import Kafka
import ProvisioningContract
import Synchronization

/// The replies as the console keeps them: the newest `capacity` (for search and the live
/// list), and per second of the last hour the counts by target, status and category and a
/// latency histogram (for the windows the page offers). Memory is bounded by both, never by
/// the topic.
final class ReplyWindow: Sendable {
    struct Entry: Sendable, Encodable {
        let partition: Int32
        let offset: Int64
        let key: String?
        let commandId: String?
        let correlationId: String?
        let target: String?
        let operation: String?
        let status: String
        let category: String?
        /// The vendor's own code, else the error's.
        let code: String?
        let attempts: Int
        let durationMs: Double
        let completedAt: String
        let worker: String
        let traceId: String?
        /// Not the first reply to its command in the window.
        let duplicate: Bool
    }

    /// Upper bounds of the latency buckets, in milliseconds (the last is everything above).
    static let bounds: [Double] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000, 60_000, .infinity]
    static let horizon = 3600

    private struct Second {
        let second: Int64
        /// `target|status|category` to count.
        var counts: [String: Int] = [:]
        var histogram = [Int](repeating: 0, count: ReplyWindow.bounds.count)
    }

    private struct State {
        var entries: RecentWindow<Entry>
        /// Replies in `entries` per command (the key of a reply without a commandId is its position).
        var answered: [String: Int] = [:]
        var seconds = Deque<Second>()
    }

    private let state: Mutex<State>

    init(capacity: Int) {
        state = Mutex(State(entries: RecentWindow(capacity: capacity)))
    }

    func observe(_ message: KafkaConsumerMessage) {
        guard let value = message.value, let reply = try? ProvisioningReply(decoding: value) else { return }
        let traceId = message.headers.traceId
        state.withLock { state in
            let id = reply.commandId ?? "\(message.partition)/\(message.offset)"
            let duplicate = state.answered[id, default: 0] > 0
            state.answered[id, default: 0] += 1
            let evicted = state.entries.append(
                Entry(
                    partition: message.partition, offset: message.offset, key: message.key.map { String(decoding: $0, as: UTF8.self) },
                    commandId: reply.commandId, correlationId: reply.correlationId, target: reply.target, operation: reply.operation,
                    status: reply.status.rawValue, category: reply.error?.category.rawValue, code: reply.vendorResponse?.code ?? reply.error?.code,
                    attempts: reply.attempts, durationMs: reply.durationMs, completedAt: Timestamp.format(reply.completedAt), worker: reply.worker,
                    traceId: traceId, duplicate: duplicate))
            if let evicted {
                let evictedId = evicted.commandId ?? "\(evicted.partition)/\(evicted.offset)"
                if let count = state.answered[evictedId] { state.answered[evictedId] = count > 1 ? count - 1 : nil }
            }
            record(reply, into: &state)
        }
    }

    private func record(_ reply: ProvisioningReply, into state: inout State) {
        let second = Int64(reply.completedAt.timeIntervalSince1970.rounded(.down))
        let newest = state.seconds.last?.second ?? second
        guard second > newest - Int64(Self.horizon) else { return }
        let key = "\(reply.target ?? "-")|\(reply.status.rawValue)|\(reply.error?.category.rawValue ?? "none")"
        let bucket = Self.bounds.firstIndex { reply.durationMs <= $0 } ?? Self.bounds.count - 1
        // Mostly the newest second; a late reply goes into the second it belongs to.
        if let index = state.seconds.lastIndex(where: { $0.second <= second }), state.seconds[index].second == second {
            state.seconds[index].counts[key, default: 0] += 1
            state.seconds[index].histogram[bucket] += 1
        } else {
            var entry = Second(second: second)
            entry.counts[key] = 1
            entry.histogram[bucket] = 1
            let index = state.seconds.lastIndex(where: { $0.second < second }).map { $0 + 1 } ?? 0
            state.seconds.insert(entry, at: index)
        }
        let oldest = (state.seconds.last?.second ?? second) - Int64(Self.horizon)
        while let first = state.seconds.first, first.second <= oldest { state.seconds.removeFirst() }
    }

    /// The newest replies first, at most `limit`.
    func recent(_ limit: Int) -> [Entry] { state.withLock { Array($0.entries.elements.suffix(limit).reversed()) } }

    /// Replies in the window matching `search` (commandId, correlationId or key, exactly).
    func find(_ search: String) -> [Entry] {
        state.withLock { $0.entries.elements.filter { $0.commandId == search || $0.correlationId == search || $0.key == search } }
    }

    /// What the live page shows for the last `seconds` (up to the hour kept), ending now.
    func summary(seconds: Int, now: Date = Date(), recent limit: Int = 20) -> ReplySummary {
        let window = min(max(seconds, 10), Self.horizon)
        let end = Int64(now.timeIntervalSince1970.rounded(.down))
        let start = end - Int64(window) + 1
        let slots = 60
        let slotSeconds = max(1, window / slots)
        return state.withLock { state in
            var summary = ReplySummary(window: window, slotSeconds: slotSeconds, slots: window / slotSeconds)
            var histogram = [Int](repeating: 0, count: Self.bounds.count)
            for second in state.seconds where second.second >= start && second.second <= end {
                let slot = Int(second.second - start) / slotSeconds
                for (key, count) in second.counts {
                    let parts = key.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
                    summary.add(target: parts[0], status: parts[1], category: parts[2], count: count, slot: slot)
                }
                for (index, count) in second.histogram.enumerated() { histogram[index] += count }
            }
            summary.setLatency(histogram)
            summary.recent = Array(state.entries.elements.suffix(limit).reversed())
            summary.seen = state.entries.seen
            return summary
        }
    }
}

/// One push of the live replies page.
struct ReplySummary: Encodable, Sendable {
    struct Bucket: Encodable, Sendable {
        /// Upper bound in milliseconds; nil for the last (everything above).
        let le: Double?
        let count: Int
    }

    let window: Int
    let slotSeconds: Int
    var total = 0
    var byStatus: [String: Int] = [:]
    var byCategory: [String: Int] = [:]
    var byTarget: [String: [String: Int]] = [:]
    /// Per target, replies per slot of `slotSeconds`, oldest first.
    var series: [String: [Int]] = [:]
    var histogram: [Bucket] = []
    /// Percentiles as the upper bound of the bucket they fall in, in milliseconds.
    var p50: Double?
    var p90: Double?
    var p99: Double?
    var recent: [ReplyWindow.Entry] = []
    var seen = 0
    private let slots: Int

    init(window: Int, slotSeconds: Int, slots: Int) {
        self.window = window
        self.slotSeconds = slotSeconds
        self.slots = slots
    }

    mutating func add(target: String, status: String, category: String, count: Int, slot: Int) {
        total += count
        byStatus[status, default: 0] += count
        if category != "none" { byCategory[category, default: 0] += count }
        byTarget[target, default: [:]][status, default: 0] += count
        var line = series[target] ?? [Int](repeating: 0, count: slots)
        if slot < line.count { line[slot] += count }
        series[target] = line
    }

    mutating func setLatency(_ counts: [Int]) {
        histogram = zip(ReplyWindow.bounds, counts).map { Bucket(le: $0.isFinite ? $0 : nil, count: $1) }
        let all = counts.reduce(0, +)
        func percentile(_ share: Double) -> Double? {
            guard all > 0 else { return nil }
            let rank = Int((Double(all) * share).rounded(.up))
            var running = 0
            for (index, count) in counts.enumerated() {
                running += count
                if running >= rank { return ReplyWindow.bounds[index].isFinite ? ReplyWindow.bounds[index] : ReplyWindow.bounds[index - 1] }
            }
            return nil
        }
        p50 = percentile(0.5)
        p90 = percentile(0.9)
        p99 = percentile(0.99)
    }

    enum CodingKeys: String, CodingKey {
        case window, slotSeconds, total, byStatus, byCategory, byTarget, series, histogram, p50, p90, p99, recent, seen
    }
}
