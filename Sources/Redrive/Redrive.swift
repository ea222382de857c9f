import Foundation
import Kafka
import Logging
import ProvisioningContract
import Synchronization

/// One redrive of dead letters to the commands topic (contract section 11), behind both
/// `provisioner dlq replay` and the console: paced, pausable and cancellable, with progress,
/// and recorded in the replays topic when it starts, every few seconds, and when it ends.
public final class Redrive: Sendable {
    public struct Progress: Sendable, Equatable {
        public var state: RedriveRecord.State
        /// Re-published and acknowledged by Kafka.
        public var sent: Int
        public var total: Int
    }

    public struct Topics: Sendable {
        public var commands: String
        public var replays: String

        public init(commands: String, replays: String) {
            self.commands = commands
            self.replays = replays
        }
    }

    public let id: String
    public let plan: RedrivePlan
    private let producer: KafkaProducer
    private let topics: Topics
    private let logger: Logger
    private let control = Mutex(RedriveControl())
    private let record: Mutex<RedriveRecord>
    private let onProgress: @Sendable (Progress) -> Void
    /// Records in flight at most: enough to keep the producer busy, few enough to stop promptly.
    private let window = 256

    /// `by` is `cli@host` or the console user; `rate` in records a second (nil: as fast as
    /// Kafka takes them); `onProgress` is called from the running task.
    public init(
        plan: RedrivePlan, by: String, asDryRun: Bool = false, rate: Double? = nil, producer: KafkaProducer, topics: Topics, logger: Logger,
        id: String = UUID().uuidString.lowercased(), onProgress: @escaping @Sendable (Progress) -> Void = { _ in }
    ) {
        self.id = id
        self.plan = plan
        self.producer = producer
        self.topics = topics
        self.logger = logger
        self.onProgress = onProgress
        self.record = Mutex(
            RedriveRecord(
                id: id, at: Date(), by: by, filters: plan.filter, includeReplayed: plan.includeReplayed, asDryRun: asDryRun,
                rate: rate.flatMap { $0 > 0 ? $0 : nil }, selected: plan.letters.count, skipped: plan.skipped.count))
    }

    public var progress: Progress {
        record.withLock { Progress(state: $0.state, sent: $0.coveredPositions.count, total: $0.selected) }
    }

    /// The audit record as it stands.
    public var auditRecord: RedriveRecord { record.withLock { $0 } }

    /// Stops sending after the records in flight; `resume()` goes on. Recorded in the audit.
    public func pause() {
        guard let pacer = control.withLock({ $0.pause() }) else { return }
        record.withLock { if $0.state == .running { $0.state = .paused } }
        pacer?.resume()
        report()
    }

    public func resume() {
        guard let waiter = control.withLock({ $0.resume() }) else { return }
        record.withLock { if $0.state == .paused { $0.state = .running } }
        waiter?.resume()
        report()
    }

    /// Sends nothing more; what was sent stays sent (and recorded as covered).
    public func cancel() {
        for waiter in control.withLock({ $0.cancel() }) { waiter.resume() }
    }

    /// Sends every planned dead letter (until cancelled or Kafka fails), then records the end.
    /// Returns the final audit record.
    public func run() async -> RedriveRecord {
        await publishAudit()
        var pending: [(DeadLetter.Position, KafkaPendingDelivery)] = []
        var due = ContinuousClock.now
        var audited = ContinuousClock.now
        var failure: KafkaError?
        var stoppedEarly = false
        let (rate, asDryRun) = record.withLock { ($0.rate, $0.asDryRun) }
        // Cancelling the task cancels the redrive: what is left must not go out unpaced.
        await withTaskCancellationHandler {
            sending: for letter in plan.letters {
                if rate != nil, due > .now { await pace(until: due) }
                switch await proceed(settling: &pending) {
                case .cancelled:
                    stoppedEarly = true
                    break sending
                case .failed(let error):
                    failure = error
                    break sending
                case .resumedAfterPause: due = .now
                case .running: break
                }
                var value: [UInt8]?
                if asDryRun {
                    guard let dryRun = Self.asDryRun(letter.value) else {
                        record.withLock { $0.unsent += 1 }
                        continue
                    }
                    value = dryRun
                }
                // The first record goes at once; a slow send delays the next, never bunches them.
                if let rate { due = max(due, .now) + .seconds(1 / rate) }
                let count = (plan.previousCounts[letter.position] ?? 0) + 1
                let message = letter.replay(to: topics.commands, id: id, at: Date(), count: count, value: value)
                do throws(KafkaError) {
                    pending.append((letter.position, try producer.submit(message)))
                    // Paced, each record is awaited: progress and pauses act on every one.
                    if pending.count >= (rate == nil ? window : 1) { try await settle(&pending) }
                } catch {
                    failure = error
                    break sending
                }
                if ContinuousClock.now - audited > .seconds(5) {
                    audited = .now
                    await publishAudit()
                }
            }
        } onCancel: {
            self.cancel()
        }
        if failure == nil {
            do { try await settle(&pending) } catch { failure = error }
        }
        // Cancelled once every record went is completed: nothing was left unsent.
        record.withLock { record in
            record.state = failure != nil ? .failed : stoppedEarly ? .cancelled : .completed
            record.error = failure.map { "\($0)" }
            record.endedAt = Timestamp.format(Date())
        }
        report()
        await publishAudit()
        return record.withLock { $0 }
    }

    private enum Proceed {
        case running, resumedAfterPause, cancelled
        case failed(KafkaError)
    }

    /// Waits while paused. A pause first lets the records in flight land and records them and
    /// the pause in the audit: paused, what is covered is all that was sent.
    private func proceed(settling pending: inout [(DeadLetter.Position, KafkaPendingDelivery)]) async -> Proceed {
        var paused = false
        while true {
            switch control.withLock({ $0.state }) {
            case .cancelled: return .cancelled
            case .running: return paused ? .resumedAfterPause : .running
            case .paused:
                if !paused {
                    paused = true
                    do { try await settle(&pending) } catch { return .failed(error) }
                    await publishAudit()
                }
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    if !control.withLock({ $0.park(continuation) }) { continuation.resume() }
                }
            }
        }
    }

    /// Waits until `deadline`, or less when cancelled meanwhile.
    private func pace(until deadline: ContinuousClock.Instant) async {
        control.withLock { $0.startPace() }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(until: deadline)
                self.control.withLock { $0.endPace() }?.resume()
            }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                if !control.withLock({ $0.pace(continuation) }) { continuation.resume() }
            }
            group.cancelAll()
        }
    }

    /// Waits for the acknowledgements in flight and records those dead letters as covered.
    private func settle(_ pending: inout [(DeadLetter.Position, KafkaPendingDelivery)]) async throws(KafkaError) {
        var done: [DeadLetter.Position] = []
        defer {
            record.withLock { $0.cover(done) }
            pending.removeFirst(done.count)
            report()
        }
        for (position, delivery) in pending {
            _ = try await delivery.acknowledgement()
            done.append(position)
        }
    }

    private func report() {
        onProgress(progress)
    }

    /// The audit record to the replays topic; a failure is logged (the redrive goes on).
    private func publishAudit() async {
        let current = record.withLock { $0 }
        do {
            _ = try await producer.send(KafkaProducerMessage(topic: topics.replays, key: Array(id.utf8), value: try current.encoded()))
        } catch {
            logger.warning("redrive audit record not written", metadata: ["redrive": "\(id)", "error": "\(error)"])
        }
    }

    /// The command with `"dryRun": true`, when its value is a JSON object.
    static func asDryRun(_ value: [UInt8]?) -> [UInt8]? {
        guard let value, case .object(var object)? = try? JSONDecoder().decode(JSONValue.self, from: Data(value)) else { return nil }
        object["dryRun"] = .bool(true)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(JSONValue.object(object))).map(Array.init)
    }
}
