import DequeModule
import Kafka

/// The worker's scheduling state, one synchronous machine: events go in, actions come out, and
/// the worker only carries the actions out. It lives in a `Mutex` (`ProvisioningWorker`); no
/// transition awaits or does I/O, so any thread may feed it, librdkafka's callbacks included.
///
/// What it decides: one job per key at a time, in offset order; at most `maxInFlight` jobs at
/// once; partitions with too much queued work (by count or bytes, or all of them together by
/// bytes) pause until it drains to half; at most `maxUncommittedPerPartition` jobs start past
/// the group's last accepted commit; a record that skips ahead (a gap) is not taken, and the
/// partition is read again from the gap; commits never pass an offset not yet acknowledged.
package struct WorkerStateMachine {
    package struct Limits: Sendable {
        var maxInFlight = 256
        var maxQueuedPerPartition = 8192
        var maxQueuedBytesPerPartition = 4 << 20
        var maxQueuedBytes = 32 << 20
        var maxUncommittedPerPartition = 512
        /// How long work may wait at the uncommitted bound for a commit to land.
        var maxCommitWait: Duration = .seconds(30)
    }

    package enum Action: Sendable {
        /// Run the job's next step.
        case start(Job)
        case pause([KafkaTopicPartition])
        case resume([KafkaTopicPartition])
        /// Read the partition again from `offset`: records from there on were not received.
        case reread(KafkaTopicPartition, from: Int64)
        /// A partition's uncommitted work grew: commit before the next tick.
        case commitSoon
        /// The revoked partitions are idle (or their grace period passed): commit `offsets`
        /// (unless the partitions were lost), then let them go.
        case release(KafkaPartitionRevocation, commit: [KafkaTopicPartitionOffset], timedOut: Bool)
        /// Stopping and idle (or the grace period passed): commit `offsets`, then end.
        case finish(commit: [KafkaTopicPartitionOffset], timedOut: Bool)
        /// For logs and metrics: the sequence of a partition was broken.
        case report(Anomaly)
    }

    package enum Anomaly: Sendable, Equatable {
        case gap(KafkaTopicPartition, expected: Int64, received: Int64)
        case confirmedGap(KafkaTopicPartition, missing: Range<Int64>)
        case repeated(KafkaTopicPartition, offset: Int64)
        /// Holds older than `maxCommitWait` were lifted.
        case holdsLifted([KafkaTopicPartition])
    }

    /// Running, then stopping (nothing new starts; what must run finishes, until `deadline`),
    /// then finished (the final commit is handed to the committer). Never goes back.
    enum Lifecycle: Equatable {
        case running
        case stopping(deadline: ContinuousClock.Instant)
        case finished
    }

    /// Stopping or finished.
    var isStopping: Bool { lifecycle != .running }
    /// The final commit has been handed over: no commit may follow it.
    var finished: Bool { lifecycle == .finished }

    struct Revoking {
        let revocation: KafkaPartitionRevocation
        let partitions: Set<KafkaTopicPartition>
        let deadline: ContinuousClock.Instant
    }

    let limits: Limits
    var partitions: [KafkaTopicPartition: PartitionState] = [:]
    /// Keys whose head waits for a slot, in arrival order, across partitions.
    var waiting = Deque<(KafkaTopicPartition, String)>()
    var running = 0
    var queuedBytes = 0
    var nextEpoch: UInt64 = 1
    var revoking: [Revoking] = []
    /// Where the worker is in its life: the one place that says whether it is stopping.
    var lifecycle = Lifecycle.running
    /// The most jobs that ran at once, pauses for queued work, gaps seen.
    var maxRunning = 0
    var pauses = 0
    var gaps = 0

    package init(limits: Limits) {
        var limits = limits
        limits.maxInFlight = max(1, limits.maxInFlight)
        limits.maxUncommittedPerPartition = max(2, limits.maxUncommittedPerPartition)
        self.limits = limits
    }

    // MARK: Events

    /// Partitions joined this worker; `starts` holds the group's committed position of those
    /// for which it is known (else the first record sets it).
    package mutating func assigned(_ assigned: [KafkaTopicPartition], starts: [KafkaTopicPartition: Int64]) {
        for partition in assigned where partitions[partition] == nil {
            partitions[partition] = PartitionState(epoch: nextEpoch, start: starts[partition])
            nextEpoch += 1
        }
    }

    package mutating func received(_ job: Job) -> [Action] {
        var actions: [Action] = []
        let partition = job.partition
        if partitions[partition] == nil { assigned([partition], starts: [:]) }
        guard !isStopping, partitions[partition]?.revoking == false, var state = take(partition) else { return actions }
        switch state.classify(job.offset) {
        case .next:
            break
        case .repeated:
            // Dropped while re-reading, or a record Kafka re-delivered that is queued, running or done.
            if state.rereading == nil { actions.append(.report(.repeated(partition, offset: job.offset))) }
            partitions[partition] = consume state
            return actions
        case .gap(let from):
            gaps += 1
            partitions[partition] = consume state
            return [.report(.gap(partition, expected: from, received: job.offset)), .reread(partition, from: from)]
        case .confirmedGap(let missing):
            actions.append(.report(.confirmedGap(partition, missing: missing)))
        }
        var job = job
        job.epoch = state.epoch
        state.offsets.received(job.offset)
        state.queued += 1
        state.queuedBytes += job.size
        queuedBytes += job.size
        if state.queues[job.key] == nil {
            state.queues[job.key] = [job]
            waiting.append((partition, job.key))
        } else {
            state.queues[job.key]!.append(job)
        }
        let full =
            state.queued >= limits.maxQueuedPerPartition || state.queuedBytes >= limits.maxQueuedBytesPerPartition
            || queuedBytes >= limits.maxQueuedBytes
        if full, !state.paused {
            state.paused = true
            pauses += 1
            actions.append(.pause([partition]))
        }
        partitions[partition] = consume state
        startWhatFits(&actions)
        return actions
    }

    /// The job's step asked for a retry: its slot goes to other keys, its key stays blocked
    /// until `retryDue`. False when the job should be given up (its partition left, or stopping).
    mutating func retry(_ job: Job) -> (keep: Bool, actions: [Action]) {
        var actions: [Action] = []
        running -= 1
        var keep = false
        if var state = take(job.partition, epoch: job.epoch) {
            if state.running.remove(job.key) != nil {
                if !isStopping, !state.revoking {
                    state.queues[job.key]![0] = job
                    state.parked.insert(job.key)
                    keep = true
                } else {
                    // Given up with its key's queue: the partition's next owner (or this worker
                    // after a restart) runs them, as their offsets are not committed.
                    drop(key: job.key, in: &state)
                }
            }
            partitions[job.partition] = consume state
        }
        startWhatFits(&actions)
        settle(&actions)
        return (keep, actions)
    }

    /// The job's wait before its next attempt is over: it is next in line for a slot.
    mutating func retryDue(_ job: Job) -> [Action] {
        var actions: [Action] = []
        guard isParked(job) else { return actions }
        partitions[job.partition]!.parked.remove(job.key)
        waiting.prepend((job.partition, job.key))
        startWhatFits(&actions)
        return actions
    }

    /// Whether the job waits for a retry (`retryDue` would put it in line): false once it was
    /// given up with its partition or at a stop.
    func isParked(_ job: Job) -> Bool {
        guard let state = current(job) else { return false }
        return state.parked.contains(job.key) && state.queues[job.key]?.first?.offset == job.offset
    }

    /// The job's records are queued in the producer behind its key's earlier ones: its slot and
    /// key go to the next job, while its offset waits for `acknowledged`.
    package mutating func handedOff(_ job: Job) -> [Action] {
        var actions: [Action] = []
        running -= 1
        if var state = take(job.partition, epoch: job.epoch) {
            if state.running.remove(job.key) != nil {
                state.awaitingAcknowledgement += 1
                // In place: a copy of a hot key's queue per command would make its backlog quadratic.
                state.queues[job.key]!.removeFirst()
                if state.queues[job.key]!.isEmpty {
                    state.queues[job.key] = nil
                } else {
                    waiting.append((job.partition, job.key))
                }
            }
            partitions[job.partition] = consume state
        }
        startWhatFits(&actions)
        settle(&actions)
        return actions
    }

    /// Kafka has the job's records (or they are in the transaction's outbox): its offset may be committed.
    package mutating func acknowledged(_ job: Job) -> [Action] {
        var actions: [Action] = []
        guard var state = take(job.partition, epoch: job.epoch) else { return actions }
        state.awaitingAcknowledgement -= 1
        state.queued -= 1
        state.queuedBytes -= job.size
        queuedBytes -= job.size
        state.offsets.completed(job.offset)
        partitions[job.partition] = consume state
        resumeDrained(&actions)
        settle(&actions)
        return actions
    }

    /// The group accepted these offsets: work held back for their partitions may start.
    package mutating func committed(_ offsets: [KafkaTopicPartitionOffset]) -> [Action] {
        var actions: [Action] = []
        var released: [(KafkaTopicPartition, String)] = []
        for offset in offsets {
            guard var state = take(offset.topicPartition) else { continue }
            state.acceptedCommit = offset.offset
            state.startedSinceCommit = 0
            state.heldSince = nil
            released += state.held.map { (offset.topicPartition, $0) }
            state.held = []
            partitions[offset.topicPartition] = state
        }
        waiting = Deque(released) + waiting
        startWhatFits(&actions)
        return actions
    }

    /// The commit was refused: the offsets are offered again at the next one.
    mutating func commitFailed(_ offsets: [KafkaTopicPartitionOffset]) {
        for offset in offsets where partitions[offset.topicPartition]?.offsets.committed == offset.offset {
            partitions[offset.topicPartition]!.offsets.committed = nil
        }
    }
}
