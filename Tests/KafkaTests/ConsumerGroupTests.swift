import Foundation
import Kafka
import Synchronization
import Testing

@Suite("Consumer groups and commits", .timeLimit(.minutes(10)))
struct ConsumerGroupTests {
    /// What one group member did: every (partition, offset) it processed, in order.
    final class Member: Sendable {
        let name: String
        let consumer: KafkaConsumer
        let seen = Mutex<[KafkaTopicPartitionOffset]>([])
        let assignedPartitions = Mutex<Set<KafkaTopicPartition>>([])
        let revokedBeforeRelease = Mutex<[KafkaTopicPartition]>([])
        /// Revocations that came as "lost": the member was fenced, its uncommitted work is done again.
        let lostRevocations = Mutex(0)
        /// Messages whose commit failed (a commit racing a rebalance is refused with
        /// ILLEGAL_GENERATION): the only ones that may be delivered twice.
        let failedCommits = Mutex<Set<KafkaTopicPartitionOffset>>([])
        /// The member stops reading once it has processed this many messages.
        let stopAt = Mutex<Int>(.max)
        /// Set before `close()`: a close hands the partitions back without waiting for the
        /// revocation to be completed, so they may be gone by the time it is read.
        let closing = Atomic<Bool>(false)

        init(_ name: String, _ consumer: KafkaConsumer) {
            self.name = name
            self.consumer = consumer
        }

        var processed: Int { seen.withLock { $0.count } }

        func close(_ kafka: TestCluster) async {
            closing.store(true, ordering: .releasing)
            await kafka.stop(consumer)
        }

        /// Processes and commits each message, and completes revocations only when done.
        /// Stops after `stopAt` messages, or when the sequence ends.
        func run(onChange: @escaping @Sendable () -> Void) async {
            var processed = 0
            for await event in consumer.events {
                switch event {
                case .message(let message):
                    seen.withLock { $0.append(KafkaTopicPartitionOffset(message.topicPartition, offset: message.offset)) }
                    do {
                        try await consumer.commit(message)
                    } catch {
                        failedCommits.withLock { _ = $0.insert(KafkaTopicPartitionOffset(message.topicPartition, offset: message.offset)) }
                    }
                    processed += 1
                    onChange()
                    if processed >= stopAt.withLock({ $0 }) { return }
                case .partitionsAssigned(let partitions):
                    assignedPartitions.withLock { $0.formUnion(partitions) }
                    onChange()
                case .partitionsRevoked(let revocation):
                    // Still assigned while we hold the revocation: a commit works.
                    revokedBeforeRelease.withLock { $0.append(contentsOf: revocation.partitions) }
                    if revocation.isLost { lostRevocations.withLock { $0 += 1 } }
                    if !closing.load(ordering: .acquiring), !revocation.isLost {
                        #expect(consumer.assignment.isSuperset(of: revocation.partitions))
                    }
                    assignedPartitions.withLock { $0.subtract(revocation.partitions) }
                    revocation.complete()
                    onChange()
                case .offsetsCommitted, .error, .partitionEnd:
                    break
                }
            }
        }
    }

    /// Resolves when a condition over the members becomes true; re-checked on every change.
    final class Condition: Sendable {
        private struct Waiter {
            var check: @Sendable () -> Bool
            var continuation: CheckedContinuation<Void, Never>
        }

        private let waiter = Mutex<Waiter?>(nil)

        func changed() {
            let ready: CheckedContinuation<Void, Never>? = waiter.withLock { waiter in
                guard let current = waiter, current.check() else { return nil }
                waiter = nil
                return current.continuation
            }
            ready?.resume()
        }

        func wait(_ what: String, seconds: Double = 60, until check: @escaping @Sendable () -> Bool) async throws {
            try await withDeadline(seconds, what) {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let done = self.waiter.withLock { waiter -> Bool in
                        if check() { return true }
                        waiter = Waiter(check: check, continuation: continuation)
                        return false
                    }
                    if done { continuation.resume() }
                }
            }
        }
    }

    @Test(
        "two consumers split the partitions; when one leaves, the other takes over without loss or skip",
        arguments: [KafkaConsumerConfiguration.RebalanceProtocol.cooperative, .eager]
    )
    func groupSplitAndTakeOver(protocol rebalance: KafkaConsumerConfiguration.RebalanceProtocol) async throws {
        try await TestCluster.with(brokers: 3) { kafka in
            let topic = try kafka.topic(partitions: 6)
            let producer = try kafka.producer()
            var produced = 0
            func produce(_ count: Int) async throws {
                for _ in 0..<count {
                    try producer.enqueue(KafkaProducerMessage(topic: topic, key: "user-\(produced % 97)", value: "\(produced)"))
                    produced += 1
                }
                try await producer.flush()
            }
            let group = "g-split-\(rebalance.rawValue)"
            let condition = Condition()
            let all = Set((0..<6).map { KafkaTopicPartition(topic: topic, partition: $0) })
            @Sendable func processed(_ members: Member...) -> Int { Set(members.flatMap { $0.seen.withLock { $0 } }).count }

            // A alone owns everything and works through the first batch.
            try await produce(300)
            let a = Member("a", try kafka.consumer(group: group, topics: [topic], protocol: rebalance))
            let aTask = Task { await a.run { condition.changed() } }
            try await condition.wait("a to process the first batch") { a.assignedPartitions.withLock { $0 } == all && a.processed == 300 }

            // B joins: A hands over some partitions (eager: all, then gets some back).
            let b = Member("b", try kafka.consumer(group: group, topics: [topic], protocol: rebalance))
            let bTask = Task { await b.run { condition.changed() } }
            try await condition.wait("both members to own partitions") {
                let ownedByA = a.assignedPartitions.withLock { $0 }
                let ownedByB = b.assignedPartitions.withLock { $0 }
                return !ownedByA.isEmpty && !ownedByB.isEmpty && ownedByA.isDisjoint(with: ownedByB) && ownedByA.union(ownedByB) == all
            }
            let aPartitions = a.assignedPartitions.withLock { $0 }

            // A leaves in the middle of the second batch, with messages of its partitions still unread.
            a.stopAt.withLock { $0 = a.processed + 50 }
            try await produce(900)
            await aTask.value
            await a.close(kafka)

            let total = produced
            try await condition.wait("b to own every partition and see every message") {
                b.assignedPartitions.withLock { $0 } == all && processed(a, b) == total
            }
            bTask.cancel()
            await b.close(kafka)
            await kafka.stop(producer)

            // Every offset of every partition was processed exactly once, in order within a member.
            let seenA = a.seen.withLock { $0 }
            let seenB = b.seen.withLock { $0 }
            // At least once: a message is seen twice only when its commit was refused.
            let failedCommits = a.failedCommits.withLock { $0 }.union(b.failedCommits.withLock { $0 })
            var counts: [KafkaTopicPartitionOffset: Int] = [:]
            for item in seenA + seenB { counts[item, default: 0] += 1 }
            let duplicates = Set(counts.filter { $0.value > 1 }.keys)
            #expect(duplicates.isSubset(of: failedCommits), "duplicates only where a commit failed")
            #expect(Set(seenA + seenB).count == produced)
            for partition in all {
                let unique = Set((seenA + seenB).filter { $0.topicPartition == partition }.map(\.offset))
                #expect(unique == Set(0..<Int64(unique.count)), "no gap in \(partition)")
                // Within a member: each next offset follows the last, goes back only to re-read a
                // message whose commit failed, or jumps only over what the other member processed.
                for (member, other) in [(seenA, seenB), (seenB, seenA)] {
                    let own = member.filter { $0.topicPartition == partition }.map(\.offset)
                    let otherOffsets = Set(other.filter { $0.topicPartition == partition }.map(\.offset))
                    for (x, y) in zip(own, own.dropFirst()) where y != x + 1 {
                        let rewind = y <= x && duplicates.contains(KafkaTopicPartitionOffset(partition, offset: y))
                        let handedOver = y > x + 1 && (x + 1..<y).allSatisfy { otherOffsets.contains($0) }
                        #expect(rewind || handedOver, "\(partition): \(x) then \(y)")
                    }
                }
            }
            // The hand-overs were real: A was asked to give partitions back while it still held them,
            // and B continued A's partitions right after A's last commit.
            #expect(!a.revokedBeforeRelease.withLock { $0 }.isEmpty)
            for partition in aPartitions {
                let lastByA = seenA.filter { $0.topicPartition == partition }.map(\.offset).max() ?? -1
                let firstByBAfter = seenB.filter { $0.topicPartition == partition && $0.offset > lastByA }.map(\.offset).min()
                #expect(firstByBAfter == nil || firstByBAfter == lastByA + 1, "B resumes \(partition) after A's last commit")
            }
            let handedOverMidStream = aPartitions.filter { partition in
                let lastByA = seenA.filter { $0.topicPartition == partition }.map(\.offset).max() ?? -1
                return seenB.contains { $0.topicPartition == partition && $0.offset > lastByA }
            }
            #expect(!handedOverMidStream.isEmpty, "A left unread messages that B processed")
        }
    }

    /// A worker commits every second while it works, so its commits meet every rebalance. With
    /// cooperative-sticky, librdkafka 2.0.2 sends them while the member's own JoinGroup waits at
    /// the coordinator; answered after the generation moved on (ILLEGAL_GENERATION), they make
    /// librdkafka declare all of the member's partitions lost (librdkafka #4059), and the next
    /// owner repeats their uncommitted work. Eager revokes before rejoining, so nothing is lost:
    /// why eager is the default. The cooperative case is a canary: when an upgraded librdkafka
    /// keeps the partitions, it fails, and cooperative-sticky can be the default again.
    @Test(
        "a member committing while another joins keeps its partitions with eager rebalancing; cooperative-sticky loses them (librdkafka 2.0.2)",
        arguments: [KafkaConsumerConfiguration.RebalanceProtocol.eager, .cooperative]
    )
    func commitsDuringRebalance(protocol rebalance: KafkaConsumerConfiguration.RebalanceProtocol) async throws {
        try await TestCluster.with { kafka in
            let topic = try kafka.topic(partitions: 6)
            let all = Set((0..<6).map { KafkaTopicPartition(topic: topic, partition: $0) })
            let group = "g-commit-rebalance-\(rebalance.rawValue)"
            let condition = Condition()
            let a = Member("a", try kafka.consumer(group: group, topics: [topic], protocol: rebalance))
            let aTask = Task { await a.run { condition.changed() } }
            try await condition.wait("a to own every partition") { a.assignedPartitions.withLock { $0 } == all }

            // A commits what it owns every 50 ms (pacing, not synchronisation) while B joins.
            let committing = Task {
                while !Task.isCancelled {
                    let owned = a.assignedPartitions.withLock { $0 }
                    if !owned.isEmpty { try? await a.consumer.commit(owned.map { KafkaTopicPartitionOffset($0, offset: 0) }) }
                    try? await Task.sleep(for: .milliseconds(50))
                }
            }
            let b = Member("b", try kafka.consumer(group: group, topics: [topic], protocol: rebalance))
            let bTask = Task { await b.run { condition.changed() } }
            try await condition.wait("the partitions split between a and b") {
                let ownedByA = a.assignedPartitions.withLock { $0 }
                let ownedByB = b.assignedPartitions.withLock { $0 }
                return !ownedByA.isEmpty && !ownedByB.isEmpty && ownedByA.isDisjoint(with: ownedByB) && ownedByA.union(ownedByB) == all
            }
            committing.cancel()
            _ = await committing.value
            let lost = a.lostRevocations.withLock { $0 }
            switch rebalance {
            case .eager: #expect(lost == 0, "no partition of the committing member was declared lost")
            case .cooperative: #expect(lost > 0, "librdkafka 2.0.2 declares the committing member's partitions lost (#4059)")
            }
            aTask.cancel()
            bTask.cancel()
            await a.close(kafka)
            await b.close(kafka)
        }
    }

    @Test("committed offsets survive closing and reopening: reading resumes right after the last commit")
    func resumeAfterCommit() async throws {
        try await TestCluster.with { kafka in
            let topic = try kafka.topic(partitions: 1)
            let producer = try kafka.producer()
            for index in 0..<20 {
                try await producer.send(KafkaProducerMessage(topic: topic, key: "k", value: "\(index)"))
            }
            await kafka.stop(producer)
            let partition = KafkaTopicPartition(topic: topic, partition: 0)

            let first = try kafka.consumer(group: "g-resume", topics: [topic])
            let firstTen = try await read(10, from: first)
            #expect(firstTen.map(\.offset) == Array(0..<10))
            try await first.commit(firstTen[9])
            #expect(try await first.committed([partition]).first?.offset == 10)
            await kafka.stop(first)

            let second = try kafka.consumer(group: "g-resume", topics: [topic])
            let nextTen = try await read(10, from: second)
            #expect(nextTen.map(\.offset) == Array(10..<20), "resumes exactly after the commit")
            // The same through the asynchronous commit path, whose result arrives as an event.
            try second.commitAsync([nextTen[9].nextOffset])
            let result = try await withDeadline(30, "commit result") { () -> KafkaCommitResult? in
                for await event in second.events {
                    if case .offsetsCommitted(let result) = event { return result }
                }
                return nil
            }
            #expect(result?.error == nil)
            #expect(result?.offsets == [KafkaTopicPartitionOffset(partition, offset: 20)])
            await kafka.stop(second)

            let third = try kafka.consumer(group: "g-resume", topics: [topic])
            #expect(try await third.committed([partition]).first?.offset == 20)
            await kafka.stop(third)
        }
    }

    @Test("a commit while the group's coordinator is unreachable gives up after its timeout instead of waiting for it; the next one lands")
    func commitTimeout() async throws {
        try await TestCluster.with { kafka in
            let topic = try kafka.topic(partitions: 1)
            let producer = try kafka.producer()
            for index in 0..<3 {
                try await producer.send(KafkaProducerMessage(topic: topic, key: "k", value: "\(index)"))
            }
            await kafka.stop(producer)
            // A session that outlives the outage: the member must still be in the group afterwards.
            let consumer = try kafka.consumer(
                group: "g-commit-timeout", topics: [topic], properties: ["session.timeout.ms": "30000", "max.poll.interval.ms": "60000"])
            let messages = try await read(3, from: consumer)
            try kafka.cluster.setBrokerDown(1)
            let started = ContinuousClock.now
            let outcome = try await withDeadline(60, "a commit without a coordinator") { () -> KafkaError? in
                do throws(KafkaError) {
                    try await consumer.commit([messages[2].nextOffset], timeout: .seconds(2))
                    return nil
                } catch {
                    return error
                }
            }
            #expect(outcome?.code == .timedOut, "\(String(describing: outcome))")
            // Without the timeout it would wait for the coordinator, which does not come back before
            // the deadline of 60 s; the bound leaves room for a loaded machine.
            #expect(ContinuousClock.now - started < .seconds(30))
            try kafka.cluster.setBrokerUp(1)
            // As the worker's committer does: a retriable refusal (the coordinator not found again
            // yet) is tried again.
            try await withDeadline(60, "a commit after the coordinator is back") {
                while true {
                    do throws(KafkaError) {
                        try await consumer.commit([messages[2].nextOffset], timeout: .seconds(30))
                        return
                    } catch  where error.isRetriable {
                        try await Task.sleep(for: .milliseconds(200))  // librdkafka finds the coordinator on its own schedule
                    }
                }
            }
            #expect(try await consumer.committed([KafkaTopicPartition(topic: topic, partition: 0)]).first?.offset == 3)
            await kafka.stop(consumer)
        }
    }

    @Test("a paused partition delivers nothing until resumed, while the others flow")
    func pauseAndResume() async throws {
        try await TestCluster.with { kafka in
            let topic = try kafka.topic(partitions: 2)
            let consumer = try kafka.consumer(group: "g-pause", topics: [topic])
            let paused = KafkaTopicPartition(topic: topic, partition: 0)

            let producer = try kafka.producer()
            try await withDeadline(30, "assignment") {
                for await event in consumer.events {
                    if case .partitionsAssigned = event { return }
                }
            }
            try consumer.pause([paused])
            // Records for the paused partition are written first.
            for index in 0..<50 { try await producer.send(KafkaProducerMessage(topic: topic, partition: 0, key: nil, value: bytes("p0-\(index)"))) }
            for index in 0..<50 { try await producer.send(KafkaProducerMessage(topic: topic, partition: 1, key: nil, value: bytes("p1-\(index)"))) }
            await kafka.stop(producer)

            let beforeResume = try await read(50, from: consumer)
            #expect(beforeResume.allSatisfy { $0.partition == 1 })
            try consumer.resume([paused])
            let afterResume = try await read(50, from: consumer)
            #expect(afterResume.map(\.partition) == Array(repeating: 0, count: 50))
            #expect(afterResume.map(\.offset) == Array(0..<50))
            await kafka.stop(consumer)
        }
    }

    /// A slow reader fills the consumer's buffer, so the consumer stops taking messages from
    /// librdkafka; a rebalance then takes the partitions away and hands some back. Once the
    /// reader catches up, the rebalance goes through and the returned partitions are read.
    @Test("back-pressure survives an eager rebalance: reassigned partitions are fetched again")
    func backPressureAcrossRebalance() async throws {
        try await TestCluster.with { kafka in
            let topic = try kafka.topic(partitions: 2)
            let producer = try kafka.producer()
            for index in 0..<200 {
                try producer.enqueue(KafkaProducerMessage(topic: topic, partition: Int32(index % 2), key: nil, value: bytes("\(index)")))
            }
            try await producer.flush()
            await kafka.stop(producer)

            var configuration = KafkaConsumerConfiguration(bootstrapServers: kafka.bootstrapServers, groupId: "g-backpressure", topics: [topic])
            configuration.rebalanceProtocol = .eager
            configuration.bufferCapacity = 10
            configuration.properties = ["session.timeout.ms": "4000", "heartbeat.interval.ms": "500"]
            let slow = kafka.run(try KafkaConsumer(configuration: configuration, logger: kafka.logger))
            // Read until the first message, then stop reading: the buffer fills and fetching pauses.
            try await withDeadline(30, "first message") {
                for await event in slow.events { if case .message = event { return } }
            }

            // A second member joins: everything is revoked from the slow one and split anew.
            let other = try kafka.consumer(group: "g-backpressure", topics: [topic], protocol: .eager)
            let seen = SeenOffsets()
            let otherTask = Task {
                for await message in other.messages { seen.add(message) }
            }
            let ownedAfterRebalance = try await withDeadline(60, "the slow member's share of the messages") { () -> Set<KafkaTopicPartition> in
                var owned: Set<KafkaTopicPartition> = []
                var revoked = false
                for await event in slow.events {
                    switch event {
                    case .message(let message):
                        seen.add(message)
                        if revoked, owned.contains(message.topicPartition), seen.count(of: message.topicPartition) == 100 { return owned }
                    case .partitionsRevoked(let revocation):
                        revoked = true
                        owned.subtract(revocation.partitions)
                        revocation.complete()
                    case .partitionsAssigned(let partitions):
                        owned.formUnion(partitions)
                    case .offsetsCommitted, .error, .partitionEnd:
                        break
                    }
                }
                return owned
            }
            #expect(ownedAfterRebalance.count == 1, "the slow member got one partition back and read it to the end")
            otherTask.cancel()
            await kafka.stop(slow)
            await kafka.stop(other)
        }
    }

    /// librdkafka 2.0.2 remembers where a pause left a partition, across revocation and a later
    /// assignment, and resuming it then fetches from there instead of the committed offset
    /// (librdkafka #1802, #4686): every record in between was skipped, and a worker committing
    /// past them lost them. Partitions must start at the committed offset whenever they return.
    @Test(
        "a partition paused, revoked and assigned back starts at its committed offset",
        arguments: [KafkaConsumerConfiguration.RebalanceProtocol.cooperative, .eager]
    )
    func pausedPartitionComesBack(_ rebalance: KafkaConsumerConfiguration.RebalanceProtocol) async throws {
        try await TestCluster.with { kafka in
            let topic = try kafka.topic(partitions: 4)
            let all = (0..<4).map { KafkaTopicPartition(topic: topic, partition: Int32($0)) }
            let producer = try kafka.producer()
            for index in 0..<400 {
                try producer.enqueue(KafkaProducerMessage(topic: topic, partition: Int32(index % 4), key: nil, value: bytes("\(index)")))
            }
            try await producer.flush()
            await kafka.stop(producer)

            let group = "g-paused-\(rebalance)"
            let first = try kafka.consumer(group: group, topics: [topic], protocol: rebalance)
            _ = try await read(400, from: first)
            try await first.commit(all.map { KafkaTopicPartitionOffset($0, offset: 10) })
            // Two stay paused, two are paused and resumed: either way librdkafka keeps a position.
            try first.pause(all)
            try first.resume(Array(all[2...]))

            // A second member takes some partitions, then leaves: they come back to the first.
            let second = try kafka.consumer(group: group, topics: [topic], protocol: rebalance)
            let revoked = try await withDeadline(60, "the first member's revocation") { () -> Set<KafkaTopicPartition> in
                for await event in first.events {
                    if case .partitionsRevoked(let revocation) = event {
                        revocation.complete()
                        return Set(revocation.partitions)
                    }
                }
                return []
            }
            try await withDeadline(60, "the second member's assignment") {
                for await event in second.events {
                    if case .partitionsAssigned = event { return }
                }
            }
            await kafka.stop(second)

            let firstOffsets = try await withDeadline(60, "a record from every partition that came back") { () -> [KafkaTopicPartition: Int64] in
                var firstOffsets: [KafkaTopicPartition: Int64] = [:]
                for await event in first.events {
                    switch event {
                    case .message(let message) where revoked.contains(message.topicPartition):
                        if firstOffsets[message.topicPartition] == nil { firstOffsets[message.topicPartition] = message.offset }
                        if firstOffsets.count == revoked.count { return firstOffsets }
                    case .partitionsRevoked(let revocation):
                        revocation.complete()
                    default:
                        break
                    }
                }
                return firstOffsets
            }
            #expect(!revoked.isEmpty)
            #expect(firstOffsets == Dictionary(uniqueKeysWithValues: revoked.map { ($0, Int64(10)) }))
            await kafka.stop(first)
        }
    }

    final class SeenOffsets: Sendable {
        private let seen = Mutex<[KafkaTopicPartition: Set<Int64>]>([:])
        func add(_ message: KafkaConsumerMessage) { seen.withLock { _ = $0[message.topicPartition, default: []].insert(message.offset) } }
        func count(of partition: KafkaTopicPartition) -> Int { seen.withLock { $0[partition]?.count ?? 0 } }
    }
}
