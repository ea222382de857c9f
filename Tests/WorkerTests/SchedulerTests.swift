import Foundation
import Kafka
import Testing
@testable import Worker

@Suite("Scheduling and offsets")
struct SchedulerTests {
    func job(_ offset: Int64, key: String, partition: Int32 = 0) -> Job {
        Job(
            message: KafkaConsumerMessage(topic: "commands", partition: partition, offset: offset, key: Array(key.utf8), value: [], headers: [], timestampMilliseconds: nil),
            key: "\(partition)|\(key)", receivedAt: Date()
        )
    }

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

    /// What a fenced or killed worker's successor repeats is bounded: past the bound, new offsets
    /// of the partition wait for a commit to land (other partitions carry on).
    @Test("no more than maxUncommittedPerPartition commands start past the last acknowledged commit")
    func uncommittedBound() async {
        let scheduler = WorkScheduler(maxInFlight: 100, maxQueuedPerPartition: 100, maxUncommittedPerPartition: 4)
        // Offsets 10...13 start (the assignment began at 10); 12 asks for an early commit.
        var started: [Int64] = []
        var commitSoon = false
        for offset in Int64(10)...13 {
            let decisions = await scheduler.accept(job(offset, key: "k\(offset)"))
            started += decisions.start.map(\.message.offset)
            commitSoon = commitSoon || !decisions.commitSoon.isEmpty
        }
        #expect(started == [10, 11, 12, 13])
        #expect(commitSoon, "half the bound reached: commit early")
        // 14 and 15 would pass the bound: they wait, while another partition's command starts.
        #expect(await scheduler.accept(job(14, key: "k14")).start.isEmpty)
        #expect(await scheduler.accept(job(15, key: "k15")).start.isEmpty)
        #expect(await scheduler.accept(job(0, key: "other", partition: 1)).start.map(\.message.offset) == [0])
        // The commit of 10...11 lands: 14 and 15 start, in order.
        for offset in Int64(10)...11 { _ = await scheduler.complete(job(offset, key: "k\(offset)")) }
        let commits = await scheduler.takeCommits([KafkaTopicPartition(topic: "commands", partition: 0)])
        #expect(commits.map(\.offset) == [12])
        #expect(await scheduler.committed(commits).start.map(\.message.offset) == [14, 15])
    }

    /// Liveness beats the bound: a commit that never lands must not stop a partition for good.
    @Test("a hold that outlasts maxCommitWait is lifted and the held commands start")
    func staleHoldLifted() async {
        let scheduler = WorkScheduler(maxInFlight: 100, maxQueuedPerPartition: 100, maxUncommittedPerPartition: 2)
        for offset in Int64(0)...1 { _ = await scheduler.accept(job(offset, key: "k\(offset)")) }
        #expect(await scheduler.accept(job(2, key: "k2")).start.isEmpty, "held at the bound")
        let (notYet, none) = await scheduler.releaseHolds(olderThan: .seconds(60))
        #expect(notYet.start.isEmpty && none.isEmpty)
        let (decisions, released) = await scheduler.releaseHolds(olderThan: .zero)
        #expect(decisions.start.map(\.message.offset) == [2])
        #expect(released == [KafkaTopicPartition(topic: "commands", partition: 0)])
    }

    @Test("one key at a time, in order; other keys fill the remaining capacity")
    func keyOrder() async {
        let scheduler = WorkScheduler(maxInFlight: 2, maxQueuedPerPartition: 100)
        let a0 = job(0, key: "a"), a1 = job(1, key: "a"), b2 = job(2, key: "b"), c3 = job(3, key: "c")
        #expect(await scheduler.accept(a0).start.map(\.message.offset) == [0])
        #expect(await scheduler.accept(a1).start.isEmpty, "a is busy")
        #expect(await scheduler.accept(b2).start.map(\.message.offset) == [2])
        #expect(await scheduler.accept(c3).start.isEmpty, "capacity reached")
        // a0 finishes: c3's key has waited longest for a slot, a1 joins the line behind it.
        #expect(await scheduler.complete(a0).start.map(\.message.offset) == [3])
        #expect(await scheduler.complete(b2).start.map(\.message.offset) == [1])
        #expect(await scheduler.maxRunning == 2)
    }

    /// The reply is queued in the producer behind the key's earlier ones, so the key's next
    /// command need not wait for Kafka's acknowledgement; the offset must.
    @Test("a key's next command starts once the reply is handed to the producer; the offset waits for the acknowledgement")
    func handOffReleasesTheKey() async {
        let scheduler = WorkScheduler(maxInFlight: 10, maxQueuedPerPartition: 100)
        let partition = KafkaTopicPartition(topic: "commands", partition: 0)
        let first = job(0, key: "hot"), second = job(1, key: "hot")
        #expect(await scheduler.accept(first).start.map(\.message.offset) == [0])
        #expect(await scheduler.accept(second).start.isEmpty, "one at a time per key")
        #expect(await scheduler.handedOff(first).start.map(\.message.offset) == [1])
        #expect(await scheduler.takeCommits([partition]).isEmpty, "0 is not acknowledged yet")
        #expect(await scheduler.drain(nil, timeout: .milliseconds(50)) == false, "a shutdown waits for the acknowledgement")
        _ = await scheduler.acknowledged(first)
        #expect(await scheduler.takeCommits([partition]) == [KafkaTopicPartitionOffset(partition, offset: 1)])
        _ = await scheduler.complete(second)
        #expect(await scheduler.takeCommits([partition]) == [KafkaTopicPartitionOffset(partition, offset: 2)])
        #expect(await scheduler.drain(nil, timeout: .seconds(5)))
    }

    @Test("a partition is paused when its queued commands reach the byte bound, and resumed at half")
    func byteBound() async {
        let scheduler = WorkScheduler(maxInFlight: 1, maxQueuedPerPartition: 1000, maxQueuedBytesPerPartition: 4000)
        var jobs: [Job] = []
        var paused: [Int64] = []
        for offset in 0..<20 {
            let next = job(Int64(offset), key: "hot")
            jobs.append(next)
            if !(await scheduler.accept(next).pause.isEmpty) { paused.append(Int64(offset)) }
        }
        // Each job counts its record and key twice plus 256 bytes of bookkeeping: 269 here.
        #expect(paused == [14], "paused at the 15th (4,035 bytes)")
        var resumedAt: Int?
        for (index, done) in jobs.enumerated() where resumedAt == nil {
            if !(await scheduler.complete(done).resume.isEmpty) { resumedAt = index }
        }
        #expect(resumedAt == 12, "resumed at 7 queued (1,883 bytes)")
    }

    /// A worker owning many partitions, each under its own bound, must still stay within memory.
    @Test("past the bound on all partitions' queued bytes, the partition a record arrives on is paused, and resumed once the total is down to half")
    func totalByteBound() async {
        let scheduler = WorkScheduler(maxInFlight: 1, maxQueuedPerPartition: 1000, maxQueuedBytes: 3000)
        var hot: [Job] = []
        for offset in 0..<10 {
            let next = job(Int64(offset), key: "hot")
            hot.append(next)
            #expect(await scheduler.accept(next).pause.isEmpty, "2,690 bytes in all, under the bound")
        }
        let other = KafkaTopicPartition(topic: "commands", partition: 1)
        #expect(await scheduler.accept(job(0, key: "cold", partition: 1)).pause.isEmpty, "2,962 bytes")
        #expect(await scheduler.accept(job(1, key: "cold", partition: 1)).pause == [other], "3,234 bytes: paused, though its own queue is short")
        var resumedAt: Int?
        for (index, done) in hot.enumerated() where resumedAt == nil {
            if await scheduler.complete(done).resume == [other] { resumedAt = index }
        }
        #expect(resumedAt == 6, "resumed at 1,351 bytes in all, under half of 3,000")
    }

    @Test("a hot key's backlog pauses its partition and resumes it at half; other partitions keep going")
    func hotKeyBackPressure() async {
        let scheduler = WorkScheduler(maxInFlight: 4, maxQueuedPerPartition: 10)
        var paused: [KafkaTopicPartition] = []
        var jobs: [Job] = []
        for offset in 0..<10 {
            let hot = job(Int64(offset), key: "hot")
            jobs.append(hot)
            paused += await scheduler.accept(hot).pause
        }
        #expect(paused == [KafkaTopicPartition(topic: "commands", partition: 0)], "paused at 10 queued")
        // Another partition is not held back by the hot key.
        #expect(await scheduler.accept(job(0, key: "cold", partition: 1)).start.count == 1)
        var resumed: [KafkaTopicPartition] = []
        for hot in jobs.prefix(5) {
            resumed += await scheduler.complete(hot).resume
        }
        #expect(resumed == [KafkaTopicPartition(topic: "commands", partition: 0)], "resumed at 5 queued")
        #expect(await scheduler.takeCommits([KafkaTopicPartition(topic: "commands", partition: 0)]) == [KafkaTopicPartitionOffset(topic: "commands", partition: 0, offset: 5)])
    }
}

@Suite("Worker health")
struct WorkerHealthTests {
    @Test("ready once in the group; all brokers down makes it unready, saying why, until Kafka answers again")
    func readiness() {
        var health = WorkerHealth()
        #expect(!health.isReady)
        #expect(health.reasons == ["not a member of the consumer group yet"])
        health.observe(.partitionsAssigned([]))
        #expect(health.isReady, "a member without partitions is still ready")
        health.observe(.error(KafkaError(code: .allBrokersDown, message: "all brokers down")))
        #expect(!health.isReady)
        #expect(health.reasons.first?.contains("all brokers down") == true)
        health.observe(.error(KafkaError(code: .requestTimedOut)))
        health.kafkaAnswered()
        #expect(health.isReady, "one failed request is not an outage; Kafka answering ends it")
        health.stopping = true
        #expect(health.reasons == ["stopping"])
    }
}
