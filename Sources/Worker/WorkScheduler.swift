import DequeModule
import Foundation
import Kafka
import Tracing
import Provisioning

/// One command to run: a record and when it was received.
struct Job: Sendable {
    let message: KafkaConsumerMessage
    /// Commands with the same key run one after another, in offset order.
    let key: String
    let receivedAt: Date
    /// Set once the command has been routed; carries its attempts across retries. Boxed, with
    /// the span: most jobs wait in queues without either, and a job there should cost little
    /// more than its record (inline, a command and its target made each job about 2 KB).
    var progress: CommandProcessor.Progress? { started?.progress }
    /// The command's trace span, started at its first step, ended at its reply.
    var span: (any Span)? { started?.span }
    private var started: Started?

    private final class Started: Sendable {
        let progress: CommandProcessor.Progress?
        let span: any Span

        init(progress: CommandProcessor.Progress?, span: any Span) {
            self.progress = progress
            self.span = span
        }
    }

    /// The job after a step: where it stands, and its span.
    func advanced(to progress: CommandProcessor.Progress?, span: any Span) -> Job {
        var job = self
        job.started = Started(progress: progress, span: span)
        return job
    }

    init(message: KafkaConsumerMessage, key: String, receivedAt: Date) {
        self.message = message
        self.key = key
        self.receivedAt = receivedAt
    }
    var partition: KafkaTopicPartition { message.topicPartition }
    /// What the job holds in memory, roughly: its record and the bookkeeping around it.
    var size: Int { (message.value?.count ?? 0) + (message.key?.count ?? 0) + 2 * key.utf8.count + 256 }
}

/// Decides what runs when: one job per key at a time, in offset order; at most `maxInFlight`
/// jobs at once; partitions with too much queued work (by count or bytes, or all of them
/// together by bytes) are paused until it drains to half; queueing deep lets the other keys of a
/// hot key's partition get past its backlog. Also keeps each partition's `OffsetTracker`. It only decides: the worker carries the decisions out.
actor WorkScheduler {
    struct Decisions: Sendable {
        var start: [Job] = []
        var pause: [KafkaTopicPartition] = []
        var resume: [KafkaTopicPartition] = []
        /// Set when the job is the first of its partition since the partition was assigned.
        var firstOfPartition = false
        /// Partitions whose uncommitted work grew large: commit them now rather than at the next tick.
        var commitSoon: Set<KafkaTopicPartition> = []

        mutating func merge(_ other: Decisions) {
            start += other.start
            pause += other.pause
            resume += other.resume
            firstOfPartition = firstOfPartition || other.firstOfPartition
            commitSoon.formUnion(other.commitSoon)
        }
    }

    private let maxInFlight: Int
    private let maxQueuedPerPartition: Int
    private let maxQueuedBytesPerPartition: Int
    private let maxQueuedBytes: Int
    private let maxUncommittedPerPartition: Int
    /// Per key, the jobs not yet finished; the first is running or waiting for capacity.
    private var queues: [String: Deque<Job>] = [:]
    /// Keys whose first job waits for capacity, in arrival order.
    private var waiting = Deque<String>()
    /// Keys whose first job waits for a retry: it holds its key, not a slot.
    private var parked: Set<String> = []
    private var running = 0
    /// Jobs handed to the producer whose records Kafka has not acknowledged yet.
    private var awaitingAcknowledgement = 0
    private var runningByPartition: [KafkaTopicPartition: Int] = [:]
    private var queuedByPartition: [KafkaTopicPartition: Int] = [:]
    private var queuedBytesByPartition: [KafkaTopicPartition: Int] = [:]
    /// All partitions' queued bytes together.
    private var queuedBytes = 0
    private var paused: Set<KafkaTopicPartition> = []
    private var trackers: [KafkaTopicPartition: OffsetTracker] = [:]
    /// The highest offset started per partition: queued commands below it must still run, or
    /// the commit could never pass it.
    private var highestStarted: [KafkaTopicPartition: Int64] = [:]
    /// Per partition, where this assignment began: a position the group has committed (or reset to).
    private var assignmentStart: [KafkaTopicPartition: Int64] = [:]
    /// Per partition, commands started since the group last accepted a commit for it. While
    /// commits are refused (the member is being fenced, the group rebalances), all of these may
    /// run again at the partition's next owner.
    private var startedSinceCommit: [KafkaTopicPartition: Int] = [:]
    /// Keys held back because their partition reached `maxUncommittedPerPartition`, in arrival
    /// order; they go first once a commit lands.
    private var held: [KafkaTopicPartition: Deque<String>] = [:]
    /// When each partition's current hold began.
    private var heldSince: [KafkaTopicPartition: ContinuousClock.Instant] = [:]
    private var idleWaiters: [CheckedContinuation<Void, Never>] = []
    /// The most jobs that ever ran at once.
    private(set) var maxRunning = 0
    /// How often a partition was paused for too much queued work.
    private(set) var pauses = 0

    init(
        maxInFlight: Int, maxQueuedPerPartition: Int, maxQueuedBytesPerPartition: Int = .max, maxQueuedBytes: Int = .max,
        maxUncommittedPerPartition: Int = .max
    ) {
        self.maxInFlight = max(1, maxInFlight)
        self.maxQueuedPerPartition = max(1, maxQueuedPerPartition)
        self.maxQueuedBytesPerPartition = max(1, maxQueuedBytesPerPartition)
        self.maxQueuedBytes = max(1, maxQueuedBytes)
        self.maxUncommittedPerPartition = max(2, maxUncommittedPerPartition)
    }

    func accept(_ job: Job) -> Decisions {
        var decisions = Decisions()
        decisions.firstOfPartition = trackers[job.partition] == nil
        if decisions.firstOfPartition { assignmentStart[job.partition] = job.message.offset }
        trackers[job.partition, default: OffsetTracker()].received(job.message.offset)
        queuedByPartition[job.partition, default: 0] += 1
        queuedBytesByPartition[job.partition, default: 0] += job.size
        queuedBytes += job.size
        let isNewKey = queues[job.key] == nil
        queues[job.key, default: []].append(job)
        if isNewKey { waiting.append(job.key) }
        startWhatFits(&decisions)
        let full = queuedByPartition[job.partition, default: 0] >= maxQueuedPerPartition
            || queuedBytesByPartition[job.partition, default: 0] >= maxQueuedBytesPerPartition
            || queuedBytes >= maxQueuedBytes
        if full, paused.insert(job.partition).inserted {
            pauses += 1
            decisions.pause.append(job.partition)
        }
        return decisions
    }

    /// The job is done and its records are acknowledged (or in the outbox).
    func complete(_ job: Job) -> Decisions {
        var decisions = handedOff(job)
        decisions.merge(acknowledged(job))
        return decisions
    }

    /// The job's reply is queued in the producer behind its key's earlier replies: its slot and
    /// its key go to the next job, while its offset waits for `acknowledged`.
    func handedOff(_ job: Job) -> Decisions {
        var decisions = Decisions()
        running -= 1
        runningByPartition[job.partition, default: 1] -= 1
        awaitingAcknowledgement += 1
        // In place: a copy of a hot key's queue per command would make its backlog quadratic.
        if queues[job.key]?.popFirst() != nil {
            if queues[job.key]?.isEmpty ?? true {
                queues[job.key] = nil
            } else {
                waiting.append(job.key)
            }
        }
        startWhatFits(&decisions)
        return decisions
    }

    /// Kafka has the job's records: its offset may be committed.
    func acknowledged(_ job: Job) -> Decisions {
        var decisions = Decisions()
        awaitingAcknowledgement -= 1
        queuedByPartition[job.partition, default: 1] -= 1
        queuedBytesByPartition[job.partition, default: job.size] -= job.size
        queuedBytes -= job.size
        trackers[job.partition]?.completed(job.message.offset)
        resumeDrained(&decisions)
        resumeIdleWaiters()
        return decisions
    }

    /// The job waits before its next attempt: its slot goes to other keys, its key stays blocked.
    func park(_ job: Job) -> Decisions {
        var decisions = Decisions()
        running -= 1
        runningByPartition[job.partition, default: 1] -= 1
        if queues[job.key]?.isEmpty == false {
            queues[job.key]![0] = job
            parked.insert(job.key)
        }
        startWhatFits(&decisions)
        resumeIdleWaiters()
        return decisions
    }

    /// The wait is over: the job is next in line for a slot (unless its partition left meanwhile).
    func wake(_ job: Job) -> Decisions {
        var decisions = Decisions()
        guard parked.contains(job.key), let head = queues[job.key]?.first, head.message.offset == job.message.offset else { return decisions }
        parked.remove(job.key)
        waiting.prepend(job.key)
        startWhatFits(&decisions)
        return decisions
    }

    /// Resumes paused partitions whose own queue is down to half its bounds, once all queues
    /// together are down to half theirs (a partition paused for the total may have none queued).
    private func resumeDrained(_ decisions: inout Decisions) {
        guard !paused.isEmpty, queuedBytes <= maxQueuedBytes / 2 else { return }
        let drained = paused.filter {
            queuedByPartition[$0, default: 0] <= maxQueuedPerPartition / 2 && queuedBytesByPartition[$0, default: 0] <= maxQueuedBytesPerPartition / 2
        }
        paused.subtract(drained)
        decisions.resume += drained
    }

    /// A one-line picture of the queues, for diagnosing a stall.
    var summary: String {
        let held = held.map { "\($0.key.partition):\($0.value.count)" }.sorted()
        let uncommitted = startedSinceCommit.filter { $0.value > 0 }.map { "\($0.key.partition):\($0.value)" }.sorted()
        return "running \(running), awaiting acknowledgement \(awaitingAcknowledgement), waiting \(waiting.count) keys, parked \(parked.count), queued \(queuedByPartition.values.reduce(0, +)), held \(held), started since last accepted commit \(uncommitted), paused \(paused.map(\.partition).sorted())"
    }

    /// Commands waiting for a retry now.
    var parkedCount: Int { parked.count }

    private func startWhatFits(_ decisions: inout Decisions) {
        while running < maxInFlight, let key = waiting.popFirst() {
            guard let job = queues[key]?.first else { continue }
            let partition = job.partition
            let highest = highestStarted[partition] ?? Int64.min
            // Past the bound only new offsets wait: those below one started must run, or the
            // commit could never move.
            if job.message.offset > highest {
                let started = startedSinceCommit[partition, default: 0]
                if started >= maxUncommittedPerPartition {
                    if held[partition] == nil { heldSince[partition] = .now }
                    held[partition, default: []].append(key)
                    decisions.commitSoon.insert(partition)
                    continue
                }
                startedSinceCommit[partition] = started + 1
                if started + 1 >= maxUncommittedPerPartition / 2 { decisions.commitSoon.insert(partition) }
            }
            running += 1
            runningByPartition[job.partition, default: 0] += 1
            highestStarted[job.partition] = max(highestStarted[job.partition] ?? job.message.offset, job.message.offset)
            maxRunning = max(maxRunning, running)
            decisions.start.append(job)
        }
    }

    /// Forgets the jobs of `partitions` that have not started and need not: those above every
    /// started offset of their partition. Their offsets stay uncommitted, so whoever owns the
    /// partition next runs them. Jobs below a started one stay, so that finishing them lets the
    /// commit reach everything that ran, and nothing that ran is run again elsewhere; they go
    /// first, so the hand-over is quick. A job waiting for a retry is given up too (with its
    /// key's queue): the next owner tries again. Linear in the queued keys: it runs while the
    /// group waits for this member.
    func dropQueued(_ partitions: Set<KafkaTopicPartition>) {
        var waitingKeys = Set(waiting)
        for partition in partitions {
            heldSince[partition] = nil
            if let keys = held.removeValue(forKey: partition) { waitingKeys.formUnion(keys) }
        }
        var gone: Set<String> = []
        var first: Set<String> = []
        for (key, queue) in queues {
            guard let head = queue.first, partitions.contains(head.partition) else { continue }
            if parked.remove(key) != nil {
                queuedByPartition[head.partition, default: 0] -= queue.count
                let bytes = queue.reduce(0) { $0 + $1.size }
                queuedBytesByPartition[head.partition, default: 0] -= bytes
                queuedBytes -= bytes
                queues[key] = nil
                continue
            }
            let headStarted = !waitingKeys.contains(key)
            let limit = highestStarted[head.partition] ?? Int64.min
            var kept = Deque<Job>()
            for (index, job) in queue.enumerated() where (index == 0 && headStarted) || job.message.offset < limit {
                kept.append(job)
            }
            queuedByPartition[head.partition, default: 0] -= queue.count - kept.count
            let dropped = queue.reduce(0) { $0 + $1.size } - kept.reduce(0) { $0 + $1.size }
            queuedBytesByPartition[head.partition, default: 0] -= dropped
            queuedBytes -= dropped
            if kept.isEmpty {
                queues[key] = nil
                gone.insert(key)
            } else {
                queues[key] = kept
                if !headStarted { first.insert(key) }
            }
        }
        guard !gone.isEmpty || !first.isEmpty else { return }
        let remaining = waiting.filter { !gone.contains($0) }
        let inLine = Set(remaining)
        waiting = Deque(first.filter { !inLine.contains($0) } + remaining.filter { first.contains($0) } + remaining.filter { !first.contains($0) })
    }

    /// Waits until nothing of `partitions` (everything, when nil) runs or waits, or `timeout` passes.
    func drain(_ partitions: Set<KafkaTopicPartition>?, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        // Wake up at the deadline even if no job finishes.
        let alarm = Task { [weak self] in
            try? await Task.sleep(until: deadline)
            await self?.notifyProgress()
        }
        defer { alarm.cancel() }
        while isBusy(partitions) {
            if ContinuousClock.now >= deadline { return false }
            await withCheckedContinuation { idleWaiters.append($0) }
        }
        return true
    }

    /// Wakes drainers so they look again.
    private func resumeIdleWaiters() {
        let waiters = idleWaiters
        idleWaiters = []
        waiters.forEach { $0.resume() }
    }

    func notifyProgress() { resumeIdleWaiters() }

    private func isBusy(_ partitions: Set<KafkaTopicPartition>?) -> Bool {
        guard let partitions else { return running > 0 || awaitingAcknowledgement > 0 || !queues.isEmpty }
        return partitions.contains { queuedByPartition[$0, default: 0] > 0 }
    }

    /// Offsets to commit that moved since the last commit, marked as committed. A partition
    /// with much work started since its last accepted commit is included even if its offset has
    /// not moved (a command waiting for a retry pins it): the commit landing shows the group
    /// still accepts this member's commits, which lets held work start.
    func takeCommits(_ partitions: Set<KafkaTopicPartition>? = nil) -> [KafkaTopicPartitionOffset] {
        var offsets: [KafkaTopicPartitionOffset] = []
        for (partition, var tracker) in trackers where partitions?.contains(partition) ?? true {
            if let offset = tracker.pendingCommit {
                offsets.append(KafkaTopicPartitionOffset(partition, offset: offset))
                tracker.committed = offset
                trackers[partition] = tracker
            } else if startedSinceCommit[partition, default: 0] >= maxUncommittedPerPartition / 2,
                let offset = tracker.committed ?? assignmentStart[partition] {
                offsets.append(KafkaTopicPartitionOffset(partition, offset: offset))
            }
        }
        return offsets
    }

    /// The group has these offsets: work held back for their partitions may start.
    func committed(_ offsets: [KafkaTopicPartitionOffset]) -> Decisions {
        var decisions = Decisions()
        var released: [String] = []
        for offset in offsets where trackers[offset.topicPartition] != nil {
            startedSinceCommit[offset.topicPartition] = 0
            heldSince[offset.topicPartition] = nil
            if let keys = held.removeValue(forKey: offset.topicPartition) { released.append(contentsOf: keys) }
        }
        guard !released.isEmpty else { return decisions }
        waiting = Deque(released) + waiting
        startWhatFits(&decisions)
        return decisions
    }

    /// Lifts holds older than `limit`: progress wins over the bound when commits have not landed
    /// for that long (a commit call that never returns, a group that will not settle). Returns
    /// the decisions and the partitions released.
    func releaseHolds(olderThan limit: Duration) -> (Decisions, [KafkaTopicPartition]) {
        var decisions = Decisions()
        let now = ContinuousClock.now
        let stale = heldSince.filter { now - $0.value >= limit }.map(\.key)
        guard !stale.isEmpty else { return (decisions, []) }
        var released: [String] = []
        for partition in stale {
            heldSince[partition] = nil
            startedSinceCommit[partition] = 0
            if let keys = held.removeValue(forKey: partition) { released.append(contentsOf: keys) }
        }
        waiting = Deque(released) + waiting
        startWhatFits(&decisions)
        return (decisions, stale)
    }

    /// Puts offsets back after a failed commit, so the next round tries again.
    func commitFailed(_ offsets: [KafkaTopicPartitionOffset]) {
        for offset in offsets where trackers[offset.topicPartition]?.committed == offset.offset {
            trackers[offset.topicPartition]?.committed = nil
        }
    }

    /// Drops all state of partitions this worker no longer owns.
    func forget(_ partitions: Set<KafkaTopicPartition>) {
        for partition in partitions {
            trackers[partition] = nil
            queuedByPartition[partition] = nil
            queuedBytes -= queuedBytesByPartition.removeValue(forKey: partition) ?? 0
            runningByPartition[partition] = nil
            highestStarted[partition] = nil
            assignmentStart[partition] = nil
            startedSinceCommit[partition] = nil
            held[partition] = nil
            heldSince[partition] = nil
            paused.remove(partition)
        }
    }
}
