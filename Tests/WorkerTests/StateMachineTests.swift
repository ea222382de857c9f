import Foundation
import Kafka
import Testing

@testable import Worker

/// Drives `WorkerStateMachine` directly: what a command's events lead to.
struct Machine {
    var machine: WorkerStateMachine

    init(
        maxInFlight: Int = 100, maxQueuedPerPartition: Int = 1000, maxQueuedBytesPerPartition: Int = .max, maxQueuedBytes: Int = .max,
        maxUncommittedPerPartition: Int = .max, starts: [Int32: Int64] = [:]
    ) {
        machine = WorkerStateMachine(
            limits: .init(
                maxInFlight: maxInFlight, maxQueuedPerPartition: maxQueuedPerPartition, maxQueuedBytesPerPartition: maxQueuedBytesPerPartition,
                maxQueuedBytes: maxQueuedBytes, maxUncommittedPerPartition: maxUncommittedPerPartition
            ))
        for (partition, start) in starts {
            machine.assigned([Self.partition(partition)], starts: [Self.partition(partition): start])
        }
    }

    static func partition(_ number: Int32) -> KafkaTopicPartition { KafkaTopicPartition(topic: "commands", partition: number) }

    static func job(_ offset: Int64, key: String, partition: Int32 = 0) -> Job {
        Job(
            message: KafkaConsumerMessage(
                topic: "commands", partition: partition, offset: offset, key: Array(key.utf8), value: [], headers: [], timestampMilliseconds: nil),
            key: "\(partition)|\(key)", receivedAt: Date()
        )
    }

    /// Receives a record; returns the actions.
    mutating func receive(_ offset: Int64, key: String, partition: Int32 = 0) -> [WorkerStateMachine.Action] {
        machine.received(Self.job(offset, key: key, partition: partition))
    }

    /// The job as the machine started it (with its epoch).
    func running(_ offset: Int64, partition: Int32 = 0) -> Job? {
        machine.partitions[Self.partition(partition)]?.queues.values.compactMap(\.first).first { $0.offset == offset }
    }

    /// Handed off and acknowledged.
    mutating func complete(_ offset: Int64, partition: Int32 = 0) -> [WorkerStateMachine.Action] {
        guard let job = running(offset, partition: partition) else {
            Issue.record("\(offset) is not running")
            return []
        }
        return machine.handedOff(job) + machine.acknowledged(job)
    }

    mutating func commits(_ partition: Int32 = 0) -> [Int64] {
        machine.takeCommits([Self.partition(partition)]).map(\.offset)
    }
}

extension [WorkerStateMachine.Action] {
    var started: [Int64] { compactMap { if case .start(let job) = $0 { job.offset } else { nil } } }
    var paused: [KafkaTopicPartition] { flatMap { action -> [KafkaTopicPartition] in if case .pause(let partitions) = action { partitions } else { [] } } }
    var resumed: [KafkaTopicPartition] { flatMap { action -> [KafkaTopicPartition] in if case .resume(let partitions) = action { partitions } else { [] } } }
    var wantsCommit: Bool { contains { if case .commitSoon = $0 { true } else { false } } }
    var rereads: [Int64] { compactMap { if case .reread(_, let from) = $0 { from } else { nil } } }
    var anomalies: [WorkerStateMachine.Anomaly] { compactMap { if case .report(let anomaly) = $0 { anomaly } else { nil } } }
    var released: [KafkaPartitionRevocation] { compactMap { if case .release(let revocation, _, _) = $0 { revocation } else { nil } } }
    var finish: [KafkaTopicPartitionOffset]? { lazy.compactMap { if case .finish(let offsets, _) = $0 { offsets } else { nil } }.first }
}

@Suite("Worker state machine", .timeLimit(.minutes(10)))
struct StateMachineTests {
    @Test("the commit offset never passes a command still running")
    func contiguousCommits() {
        var tracker = OffsetTracker()
        for offset in Int64(10)...14 { tracker.received(offset) }
        tracker.completed(12)
        tracker.completed(13)
        #expect(tracker.pendingCommit == nil, "10 and 11 still run")
        tracker.completed(10)
        #expect(tracker.pendingCommit == 11)
        tracker.completed(11)
        #expect(tracker.pendingCommit == 14, "10 to 13 done")
        tracker.committed = 14
        #expect(tracker.pendingCommit == nil)
        tracker.completed(14)
        #expect(tracker.pendingCommit == 15)
    }

    @Test("one key at a time, in order; other keys fill the remaining capacity")
    func keyOrder() {
        var m = Machine(maxInFlight: 2)
        #expect(m.receive(0, key: "a").started == [0])
        #expect(m.receive(1, key: "a").started.isEmpty, "a is busy")
        #expect(m.receive(2, key: "b").started == [2])
        #expect(m.receive(3, key: "c").started.isEmpty, "capacity reached")
        // 0 finishes: c has waited longest for a slot, a's next joins the line behind it.
        #expect(m.complete(0).started == [3])
        #expect(m.complete(2).started == [1])
        #expect(m.machine.maxRunning == 2)
    }

    /// The reply is queued in the producer behind the key's earlier ones, so the key's next
    /// command need not wait for Kafka's acknowledgement; the offset must.
    @Test("a key's next command starts once the reply is handed to the producer; the offset waits for the acknowledgement")
    func handOffReleasesTheKey() throws {
        var m = Machine()
        _ = m.receive(0, key: "hot")
        #expect(m.receive(1, key: "hot").started.isEmpty, "one at a time per key")
        let first = try #require(m.running(0))
        #expect(m.machine.handedOff(first).started == [1])
        #expect(m.commits().isEmpty, "0 is not acknowledged yet")
        #expect(m.machine.stop(deadline: .now + .seconds(60)).finish == nil, "a stop waits for the acknowledgement")
        _ = m.machine.acknowledged(first)
        #expect(m.commits() == [1])
        #expect(m.complete(1).finish == [KafkaTopicPartitionOffset(Machine.partition(0), offset: 2)], "idle: the stop finishes with the final commit")
    }

    /// What a fenced or killed worker's successor repeats is bounded.
    @Test("no more than maxUncommittedPerPartition commands start past the last accepted commit")
    func uncommittedBound() {
        var m = Machine(maxUncommittedPerPartition: 4, starts: [0: 10])
        var started: [Int64] = []
        var commitSoon = false
        for offset in Int64(10)...13 {
            let actions = m.receive(offset, key: "k\(offset)")
            started += actions.started
            commitSoon = commitSoon || actions.wantsCommit
        }
        #expect(started == [10, 11, 12, 13])
        #expect(commitSoon, "half the bound reached: commit early")
        #expect(m.receive(14, key: "k14").started.isEmpty)
        #expect(m.receive(15, key: "k15").started.isEmpty)
        #expect(m.receive(0, key: "other", partition: 1).started == [0], "other partitions carry on")
        for offset in Int64(10)...11 { _ = m.complete(offset) }
        let commits = m.machine.takeCommits([Machine.partition(0)])
        #expect(commits.map(\.offset) == [12])
        #expect(m.machine.committed(commits).started == [14, 15])
    }

    @Test("a hold that outlasts maxCommitWait is lifted and the held commands start")
    func staleHoldLifted() {
        var m = Machine(maxUncommittedPerPartition: 2)
        for offset in Int64(0)...1 { _ = m.receive(offset, key: "k\(offset)") }
        #expect(m.receive(2, key: "k2").started.isEmpty, "held at the bound")
        #expect(m.machine.tick(now: .now).started.isEmpty, "not yet 30 s")
        let actions = m.machine.tick(now: .now + .seconds(31))
        #expect(actions.started == [2])
        #expect(actions.anomalies == [.holdsLifted([Machine.partition(0)])])
    }

    @Test("a partition is paused when its queued commands reach the byte bound, and resumed at half")
    func byteBound() {
        var m = Machine(maxInFlight: 1, maxQueuedBytesPerPartition: 4000)
        var paused: [Int64] = []
        for offset in Int64(0)..<20 where !m.receive(offset, key: "hot").paused.isEmpty { paused.append(offset) }
        // Each job counts its record and key twice plus 256 bytes of bookkeeping: 269 here.
        #expect(paused == [14], "paused at the 15th (4,035 bytes)")
        var resumedAt: Int64?
        for offset in Int64(0)..<20 where resumedAt == nil {
            if !m.complete(offset).resumed.isEmpty { resumedAt = offset }
        }
        #expect(resumedAt == 12, "resumed at 7 queued (1,883 bytes)")
    }

    @Test("past the bound on all partitions' queued bytes, the partition a record arrives on is paused, and resumed once the total is down to half")
    func totalByteBound() {
        var m = Machine(maxInFlight: 2, maxQueuedBytes: 3000)
        for offset in Int64(0)..<10 { #expect(m.receive(offset, key: "hot").paused.isEmpty, "2,690 bytes in all") }
        #expect(m.receive(0, key: "cold", partition: 1).paused.isEmpty, "2,959 bytes")
        #expect(m.receive(1, key: "cold", partition: 1).paused == [Machine.partition(1)], "3,228 bytes: paused, though its own queue is short")
        var resumedAt: Int64?
        for offset in Int64(0)..<10 where resumedAt == nil {
            if m.complete(offset).resumed == [Machine.partition(1)] { resumedAt = offset }
        }
        #expect(resumedAt == 6, "resumed at 1,345 bytes in all, under half of 3,000")
    }

    @Test("a hot key's backlog pauses its partition and resumes it at half; other partitions keep going")
    func hotKeyBackPressure() {
        var m = Machine(maxInFlight: 4, maxQueuedPerPartition: 10)
        var paused: [KafkaTopicPartition] = []
        for offset in Int64(0)..<10 { paused += m.receive(offset, key: "hot").paused }
        #expect(paused == [Machine.partition(0)], "paused at 10 queued")
        #expect(m.receive(0, key: "cold", partition: 1).started == [0])
        var resumed: [KafkaTopicPartition] = []
        for offset in Int64(0)..<5 { resumed += m.complete(offset).resumed }
        #expect(resumed == [Machine.partition(0)], "resumed at 5 queued")
        #expect(m.commits() == [5])
    }

    @Test("a retry frees the slot for other keys and keeps its own key waiting until it is due")
    func retries() throws {
        var m = Machine(maxInFlight: 1)
        _ = m.receive(0, key: "a")
        _ = m.receive(1, key: "a")
        _ = m.receive(2, key: "b")
        let first = try #require(m.running(0))
        let (keep, actions) = m.machine.retry(first)
        #expect(keep)
        #expect(actions.started == [2], "b takes the slot, a's next waits behind its head")
        #expect(m.machine.retryDue(first).started.isEmpty, "no slot free yet")
        #expect(m.complete(2).started == [0], "the due retry goes first")
        #expect(m.complete(0).started == [1])
        _ = m.complete(1)
        #expect(m.commits() == [3])
    }

    @Test("a revocation drops queued commands that need not run, waits for the running ones, then releases with their commit")
    func revocation() throws {
        var m = Machine(maxInFlight: 2)
        _ = m.receive(0, key: "a")  // runs
        _ = m.receive(1, key: "a")  // queued behind 0, below 2: must run
        _ = m.receive(2, key: "b")  // runs
        _ = m.receive(3, key: "c")  // queued, above every started one: dropped
        let revocation = KafkaPartitionRevocation(partitions: [Machine.partition(0)], isLost: false)
        #expect(m.machine.revoked(revocation, deadline: .now + .seconds(10)).released.isEmpty)
        #expect(m.complete(2).released.isEmpty)
        #expect(m.complete(0).started == [1])
        let actions = m.complete(1)
        #expect(actions.released.count == 1)
        if case .release(_, let offsets, let timedOut) = actions.last {
            #expect(offsets.map(\.offset) == [3], "3 was never started: the next owner starts there")
            #expect(!timedOut)
        }
        #expect(m.machine.partitions.isEmpty)
    }

    @Test("a record that skips ahead is not taken: the partition is read again from the gap, and the commit stops there")
    func gapIsReadAgain() {
        var m = Machine(starts: [0: 100])
        #expect(m.receive(100, key: "a").started == [100])
        let gap = m.receive(103, key: "a")
        #expect(gap.anomalies == [.gap(Machine.partition(0), expected: 101, received: 103)])
        #expect(gap.rereads == [101])
        #expect(gap.started.isEmpty)
        #expect(m.receive(104, key: "b").isEmpty, "left over from before the re-read: dropped quietly")
        // The re-read delivers the missing records, then the rest again.
        _ = m.complete(100)
        #expect(m.receive(101, key: "c").started == [101])
        #expect(m.receive(102, key: "d").started == [102])
        #expect(m.receive(103, key: "a").started == [103])
        _ = m.complete(101)
        #expect(m.commits() == [102], "never past an offset not done")
    }

    @Test("a gap that is still there on the second read is reported and gone past")
    func confirmedGap() {
        var m = Machine(starts: [0: 0])
        _ = m.receive(0, key: "a")
        #expect(m.receive(5, key: "a").rereads == [1])
        #expect(m.receive(7, key: "x").isEmpty)
        let again = m.receive(5, key: "a")
        #expect(again.anomalies == [.confirmedGap(Machine.partition(0), missing: 1..<5)])
        #expect(again.started.isEmpty, "a's 0 still runs")
        _ = m.complete(0)
        _ = m.complete(5)
        #expect(m.commits() == [6])
    }

    @Test("a first record past the group's committed position is a gap; a record delivered twice is dropped")
    func startPositionAndRepeats() {
        var m = Machine(starts: [0: 40])
        #expect(m.receive(42, key: "a").rereads == [40])
        #expect(m.receive(40, key: "a").started == [40])
        #expect(m.receive(41, key: "b").started == [41])
        #expect(m.receive(40, key: "a").anomalies == [.repeated(Machine.partition(0), offset: 40)])
        #expect(m.machine.partitions[Machine.partition(0)]?.queued == 2, "not queued twice")
    }

    @Test("a job of an earlier assignment does not touch the partition after it came back")
    func epochs() throws {
        var m = Machine()
        _ = m.receive(0, key: "a")
        let old = try #require(m.running(0))
        let revocation = KafkaPartitionRevocation(partitions: [Machine.partition(0)], isLost: true)
        _ = m.machine.revoked(revocation, deadline: .now)
        #expect(m.machine.tick(now: .now + .seconds(1)).released.count == 1, "released at the deadline")
        m.machine.assigned([Machine.partition(0)], starts: [Machine.partition(0): 0])
        #expect(m.receive(0, key: "a").started == [0])
        _ = m.machine.handedOff(old)
        _ = m.machine.acknowledged(old)
        #expect(m.commits().isEmpty, "the new assignment's 0 still runs")
        #expect(m.machine.running == 1)
    }
}
