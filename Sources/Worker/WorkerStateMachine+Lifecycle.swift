import DequeModule
import Kafka

/// Revocation, stopping, ticks and commits; the scheduling core they share.
extension WorkerStateMachine {
    /// Partitions are leaving: nothing new of them starts; jobs that need not run are dropped;
    /// the rest finish, and the revocation is released once they have (or at `deadline`).
    mutating func revoked(_ revocation: KafkaPartitionRevocation, deadline: ContinuousClock.Instant) -> [Action] {
        let leaving = Set(revocation.partitions)
        for partition in leaving {
            partitions[partition]?.revoking = true
        }
        dropQueued(leaving)
        revoking.append(Revoking(revocation: revocation, partitions: leaving, deadline: deadline))
        var actions: [Action] = []
        startWhatFits(&actions)
        settle(&actions)
        return actions
    }

    /// Reading has stopped: queued jobs that need not run are dropped; the rest finish, and
    /// `finish` comes once they have (or at `deadline`).
    mutating func stop(deadline: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        guard lifecycle == .running else { return actions }
        lifecycle = .stopping(deadline: deadline)
        dropQueued(Set(partitions.keys))
        startWhatFits(&actions)
        settle(&actions)
        return actions
    }

    /// Every commit interval: holds older than `maxCommitWait` lifted, revocations and the stop
    /// past their deadlines. Offsets are taken by the committer alone (`takeCommits`), right
    /// before it commits them: taken elsewhere, a release or the finish could pass them by.
    mutating func tick(now: ContinuousClock.Instant) -> [Action] {
        var actions: [Action] = []
        var lifted: [KafkaTopicPartition] = []
        var released: [(KafkaTopicPartition, String)] = []
        for (partition, state) in partitions {
            guard let since = state.heldSince, now - since >= limits.maxCommitWait else { continue }
            lifted.append(partition)
            released += state.held.map { (partition, $0) }
            partitions[partition]!.held = []
            partitions[partition]!.heldSince = nil
            partitions[partition]!.startedSinceCommit = 0
        }
        if !lifted.isEmpty {
            actions.append(.report(.holdsLifted(lifted.sorted())))
            waiting = Deque(released) + waiting
            startWhatFits(&actions)
        }
        settle(&actions, now: now)
        return actions
    }

    // MARK: Core

    /// Takes the partition's state out of `partitions`, to be put back with `consume`: changing
    /// a copy read from the dictionary would copy its collections (copy on write) on every
    /// event, making each event linear in the partition's queued work. Nil, leaving it in, when
    /// absent or of another assignment than `epoch`.
    mutating func take(_ partition: KafkaTopicPartition, epoch: UInt64? = nil) -> PartitionState? {
        guard let found = partitions[partition]?.epoch, epoch == nil || found == epoch else { return nil }
        return partitions.removeValue(forKey: partition)
    }

    /// The job's partition state, if the job belongs to its current assignment (to read).
    func current(_ job: Job) -> PartitionState? {
        guard let state = partitions[job.partition], state.epoch == job.epoch else { return nil }
        return state
    }

    mutating func startWhatFits(_ actions: inout [Action]) {
        var commitSoon = false
        while running < limits.maxInFlight, let (partition, key) = waiting.popFirst() {
            // Read in place, then taken out to change: see `take`.
            guard let offset = partitions[partition]?.queues[key]?.first?.offset, partitions[partition]?.running.contains(key) == false,
                partitions[partition]?.parked.contains(key) == false, var state = take(partition)
            else { continue }
            // Past the bound only new offsets wait: those below one started must run, or the
            // commit could never move.
            if offset > state.highestStarted {
                if state.startedSinceCommit >= limits.maxUncommittedPerPartition {
                    if state.held.isEmpty { state.heldSince = .now }
                    state.held.append(key)
                    partitions[partition] = state
                    commitSoon = true
                    continue
                }
                state.startedSinceCommit += 1
                if state.startedSinceCommit >= limits.maxUncommittedPerPartition / 2 { commitSoon = true }
                state.highestStarted = offset
            }
            state.running.insert(key)
            let job = state.queues[key]![0]
            partitions[partition] = state
            running += 1
            maxRunning = max(maxRunning, running)
            actions.append(.start(job))
        }
        if commitSoon { actions.append(.commitSoon) }
    }

    /// Resumes paused partitions whose own queue is down to half its bounds, once all queues
    /// together are down to half theirs (a partition paused for the total may have none queued).
    mutating func resumeDrained(_ actions: inout [Action]) {
        guard queuedBytes <= limits.maxQueuedBytes / 2 else { return }
        var drained: [KafkaTopicPartition] = []
        for (partition, state) in partitions where state.paused {
            if state.queued <= limits.maxQueuedPerPartition / 2, state.queuedBytes <= limits.maxQueuedBytesPerPartition / 2 {
                partitions[partition]!.paused = false
                drained.append(partition)
            }
        }
        if !drained.isEmpty { actions.append(.resume(drained)) }
    }

    /// Releases revocations whose partitions are idle or past their deadline, and finishes a
    /// stop once everything is.
    mutating func settle(_ actions: inout [Action], now: ContinuousClock.Instant? = nil) {
        if !revoking.isEmpty {
            var still: [Revoking] = []
            for entry in revoking {
                let timedOut = now.map { $0 >= entry.deadline } ?? false
                guard timedOut || !entry.partitions.contains(where: { partitions[$0]?.isBusy ?? false }) else {
                    still.append(entry)
                    continue
                }
                let offsets = entry.revocation.isLost ? [] : takeCommits(entry.partitions)
                forget(entry.partitions)
                actions.append(.release(entry.revocation, commit: offsets, timedOut: timedOut))
            }
            revoking = still
        }
        guard case .stopping(let deadline) = lifecycle else { return }
        let timedOut = now.map { $0 >= deadline } ?? false
        guard timedOut || (running == 0 && !partitions.values.contains(where: \.isBusy)) else { return }
        lifecycle = .finished
        actions.append(.finish(commit: takeCommits(nil), timedOut: timedOut))
    }

    /// Offsets to commit that moved since the last commit, marked as committed. A partition
    /// with much work started since its last accepted commit is included even if its offset has
    /// not moved (a command waiting for a retry pins it): the commit landing shows the group
    /// still accepts this member's commits, which lets held work start.
    package mutating func takeCommits(_ only: Set<KafkaTopicPartition>?) -> [KafkaTopicPartitionOffset] {
        var offsets: [KafkaTopicPartitionOffset] = []
        var moved: [(KafkaTopicPartition, Int64)] = []
        // Read first, change after: changing `partitions` while iterating it would copy it.
        for (partition, state) in partitions where only?.contains(partition) ?? true {
            if let offset = state.offsets.pendingCommit {
                offsets.append(KafkaTopicPartitionOffset(partition, offset: offset))
                moved.append((partition, offset))
            } else if state.startedSinceCommit >= limits.maxUncommittedPerPartition / 2, let offset = state.offsets.committed ?? state.offsets.start {
                offsets.append(KafkaTopicPartitionOffset(partition, offset: offset))
            }
        }
        for (partition, offset) in moved { partitions[partition]!.offsets.committed = offset }
        return offsets
    }

    /// Forgets the jobs of `leaving` that have not started and need not: those above every
    /// started offset of their partition. Their offsets stay uncommitted, so whoever owns the
    /// partition next runs them. Jobs below a started one stay, so that finishing them lets the
    /// commit reach everything that ran, and nothing that ran runs again elsewhere; they go
    /// first, so the hand-over is quick. A job waiting for a retry is given up with its key's
    /// queue: the next owner tries again.
    mutating func dropQueued(_ leaving: Set<KafkaTopicPartition>) {
        var first: [(KafkaTopicPartition, String)] = []
        for partition in leaving {
            guard var state = take(partition) else { continue }
            state.held = []
            state.heldSince = nil
            for (key, queue) in state.queues where !state.running.contains(key) {
                if state.parked.contains(key) {
                    drop(key: key, in: &state)
                    continue
                }
                let kept = queue.filter { $0.offset < state.highestStarted }
                drop(queue.count - kept.count, bytes: queue.reduce(0) { $0 + $1.size } - kept.reduce(0) { $0 + $1.size }, in: &state)
                if kept.isEmpty {
                    state.queues[key] = nil
                } else {
                    state.queues[key] = Deque(kept)
                    first.append((partition, key))
                }
            }
            for (key, queue) in state.queues where state.running.contains(key) {
                let kept = [queue[0]] + queue.dropFirst().filter { $0.offset < state.highestStarted }
                drop(queue.count - kept.count, bytes: queue.reduce(0) { $0 + $1.size } - kept.reduce(0) { $0 + $1.size }, in: &state)
                state.queues[key] = Deque(kept)
            }
            partitions[partition] = state
        }
        waiting = Deque(first) + waiting.filter { !leaving.contains($0.0) }
    }

    /// Gives up a key's whole queue.
    mutating func drop(key: String, in state: inout PartitionState) {
        guard let queue = state.queues.removeValue(forKey: key) else { return }
        state.parked.remove(key)
        drop(queue.count, bytes: queue.reduce(0) { $0 + $1.size }, in: &state)
    }

    private mutating func drop(_ count: Int, bytes: Int, in state: inout PartitionState) {
        state.queued -= count
        state.queuedBytes -= bytes
        queuedBytes -= bytes
    }

    /// Drops all state of partitions this worker no longer owns.
    mutating func forget(_ leaving: Set<KafkaTopicPartition>) {
        for partition in leaving {
            guard let state = partitions.removeValue(forKey: partition) else { continue }
            queuedBytes -= state.queuedBytes
        }
        waiting = waiting.filter { !leaving.contains($0.0) }
    }

    /// A one-line picture of the queues, for diagnosing a stall.
    var summary: String {
        let values = partitions.values
        let held = partitions.filter { !$0.value.held.isEmpty }.map { "\($0.key.partition):\($0.value.held.count)" }.sorted()
        let next = partitions.map { "\($0.key.partition):\($0.value.expected.map(String.init) ?? "?")" }.sorted()
        return "running \(running), awaiting acknowledgement \(values.reduce(0) { $0 + $1.awaitingAcknowledgement }), waiting \(waiting.count) keys, "
            + "parked \(values.reduce(0) { $0 + $1.parked.count }), queued \(values.reduce(0) { $0 + $1.queued }), held \(held), "
            + "paused \(partitions.filter(\.value.paused).map(\.key.partition).sorted()), next offsets \(next), gaps \(gaps)"
    }

    /// Each assigned partition as the status record shows it, in partition order.
    var partitionSnapshot: [(partition: KafkaTopicPartition, committed: Int64?, queued: Int, paused: Bool)] {
        partitions.map { ($0.key, $0.value.acceptedCommit, $0.value.queued, $0.value.paused) }
            .sorted { ($0.partition.topic, $0.partition.partition) < ($1.partition.topic, $1.partition.partition) }
    }
}
