import Foundation
import Kafka
import TestSupport
import Testing

@testable import Worker

/// Random event sequences against `WorkerStateMachine`, with the invariants checked after
/// every event. A failure names its seed: `seed` reproduces the sequence.
@Suite("Worker state machine, random event sequences", .timeLimit(.minutes(10)))
struct StateMachinePropertyTests {
    /// A job's life as the test saw it, per partition assignment and offset.
    enum Life { case running, parked, handedOff, acknowledged }

    struct Model {
        var machine = WorkerStateMachine(limits: .init(maxInFlight: 3, maxQueuedPerPartition: 6, maxUncommittedPerPartition: 5, maxCommitWait: .seconds(1)))
        var rng: SplitMix
        var now = ContinuousClock.now
        /// Per partition: the next offset Kafka would deliver, and what was received of the current assignment.
        var next: [Int32: Int64] = [0: 0, 1: 0]
        var received: [Int32: [Int64]] = [:]
        var lives: [Int32: [Int64: Life]] = [:]
        var jobs: [Int32: [Int64: Job]] = [:]
        var committed: [Int32: Int64] = [:]
        var firstStart: [String: [Int64]] = [:]
        var revoked: Set<Int32> = []
        var stopped = false
        var finished = false

        init(seed: UInt64) {
            rng = SplitMix(seed: seed)
            for partition in Int32(0)...1 { machine.assigned([Machine.partition(partition)], starts: [Machine.partition(partition): 0]) }
        }

        mutating func step() {
            switch rng.next(14) {
            case 0...4: receive()
            case 5, 6: finishOne(acknowledgeAtOnce: rng.next(2) == 0)
            case 7: acknowledgeOne()
            case 8: retryOne()
            case 9: dueOne()
            case 10: tick()
            case 11: if rng.next(6) == 0 { revoke() }
            case 12: if rng.next(4) == 0 { redeliver() }
            default: acknowledgeOne()
            }
        }

        mutating func receive() {
            let partition = Int32(rng.next(2))
            guard !revoked.contains(partition) else { return reassign(partition) }
            var offset = next[partition]!
            if rng.next(25) == 0 { offset += 2 }  // a skip
            let job = Machine.job(offset, key: "k\(rng.next(4))", partition: partition)
            let actions = machine.received(job)
            if !actions.rereads.isEmpty {
                next[partition] = actions.rereads[0]
            } else {
                next[partition] = offset + 1
                if !stopped, actions.anomalies.allSatisfy({ if case .repeated = $0 { false } else { true } }) {
                    received[partition, default: []].append(offset)
                }
            }
            apply(actions)
        }

        mutating func redeliver() {
            let partition = Int32(rng.next(2))
            guard let offset = received[partition]?.randomElement(using: &rng) else { return }
            apply(machine.received(Machine.job(offset, key: "any", partition: partition)))
        }

        mutating func pick(_ life: Life) -> Job? {
            let all = lives.flatMap { partition, offsets in offsets.filter { $0.value == life }.map { jobs[partition]![$0.key]! } }
            return all.randomElement(using: &rng)
        }

        mutating func finishOne(acknowledgeAtOnce: Bool) {
            guard let job = pick(.running) else { return }
            set(job, .handedOff)
            if acknowledgeAtOnce {
                // Acknowledged before the hand-off returns, as the transactional outbox does.
                set(job, .acknowledged)
                apply(machine.acknowledged(job))
            }
            apply(machine.handedOff(job))
        }

        mutating func acknowledgeOne() {
            guard let job = pick(.handedOff) else { return }
            set(job, .acknowledged)
            apply(machine.acknowledged(job))
        }

        mutating func retryOne() {
            guard let job = pick(.running) else { return }
            let (keep, actions) = machine.retry(job)
            if keep { set(job, .parked) } else { lives[job.message.partition]![job.offset] = nil }
            apply(actions)
        }

        mutating func dueOne() {
            guard let job = pick(.parked) else { return }
            lives[job.message.partition]![job.offset] = nil
            apply(machine.retryDue(job))
        }

        mutating func tick() {
            now += .milliseconds(400)
            apply(machine.tick(now: now))
            // The committer takes the moved offsets right before committing them.
            let offsets = machine.finished ? [] : machine.takeCommits(nil)
            if !offsets.isEmpty { commit(offsets) }
        }

        /// The committer's answer: one commit in five is refused.
        mutating func commit(_ offsets: [KafkaTopicPartitionOffset]) {
            check(offsets)
            if rng.next(5) == 0 {
                machine.commitFailed(offsets)
            } else {
                for offset in offsets { committed[offset.partition] = offset.offset }
                apply(machine.committed(offsets))
            }
        }

        mutating func revoke() {
            let partition = Int32(rng.next(2))
            guard !revoked.contains(partition), machine.partitions[Machine.partition(partition)] != nil else { return }
            revoked.insert(partition)
            apply(machine.revoked(KafkaPartitionRevocation(partitions: [Machine.partition(partition)], isLost: false), deadline: now + .seconds(2)))
        }

        /// The partition comes back at its committed offset; jobs of the old assignment may still finish.
        mutating func reassign(_ partition: Int32) {
            guard machine.partitions[Machine.partition(partition)] == nil else { return }
            revoked.remove(partition)
            let start = committed[partition] ?? 0
            machine.assigned([Machine.partition(partition)], starts: [Machine.partition(partition): start])
            next[partition] = start
            received[partition] = []
        }

        mutating func set(_ job: Job, _ life: Life) {
            lives[job.message.partition, default: [:]][job.offset] = life
        }

        mutating func apply(_ actions: [WorkerStateMachine.Action]) {
            for action in actions {
                switch action {
                case .start(let job):
                    let life = lives[job.message.partition]?[job.offset]
                    #expect(life == nil, "\(job.partition)@\(job.offset) started while \(String(describing: life))")
                    if machine.current(job) != nil, lives[job.message.partition]?[job.offset] == nil, jobs[job.message.partition]?[job.offset] == nil {
                        firstStart["\(job.epoch)|\(job.key)", default: []].append(job.offset)
                    }
                    jobs[job.message.partition, default: [:]][job.offset] = job
                    set(job, .running)
                case .release(let revocation, let offsets, _):
                    check(offsets)
                    for offset in offsets { committed[offset.partition] = offset.offset }
                    for partition in revocation.partitions {
                        // The old assignment's jobs are gone for the test: their events are stale now.
                        jobs[partition.partition] = [:]
                        lives[partition.partition] = [:]
                        received[partition.partition] = []
                    }
                case .finish(let offsets, _):
                    check(offsets)
                    for offset in offsets { committed[offset.partition] = offset.offset }
                    finished = true
                case .pause, .resume, .reread, .commitSoon, .report:
                    break
                }
            }
            #expect(machine.running <= machine.limits.maxInFlight)
        }

        /// A commit never passes an offset received and not acknowledged.
        func check(_ offsets: [KafkaTopicPartitionOffset]) {
            for offset in offsets {
                let partition = offset.partition
                for received in received[partition] ?? [] where received < offset.offset {
                    #expect(
                        lives[partition]?[received] == .acknowledged,
                        "commit \(offset.offset) passes \(received) (\(String(describing: lives[partition]?[received])))")
                }
            }
        }
    }

    @Test("invariants hold after every event of 300 random sequences", arguments: 0..<300)
    func randomSequences(seed: UInt64) {
        var model = Model(seed: seed)
        for _ in 0..<200 { model.step() }
        // Stop, and let everything running finish: the stop must finish with a commit.
        model.stopped = true
        model.apply(model.machine.stop(deadline: model.now + .seconds(3600)))
        var guardSteps = 0
        while !model.finished, guardSteps < 10_000 {
            guardSteps += 1
            if let job = model.pick(.running) {
                model.set(job, .handedOff)
                model.apply(model.machine.handedOff(job))
            } else if let job = model.pick(.handedOff) {
                model.set(job, .acknowledged)
                model.apply(model.machine.acknowledged(job))
            } else if let job = model.pick(.parked) {
                model.lives[job.message.partition]![job.offset] = nil
                model.apply(model.machine.retryDue(job))
            } else {
                model.tick()
            }
        }
        #expect(model.finished, "seed \(seed): the stop never finished: \(model.machine.summary)")
        // Every received offset ended acknowledged, or stays uncommitted for the next owner.
        for (partition, offsets) in model.received {
            for offset in offsets where model.lives[partition]?[offset] != .acknowledged {
                #expect(offset >= model.committed[partition] ?? 0, "seed \(seed): \(partition)@\(offset) neither finished nor handed back")
            }
        }
        // A key's commands first started in offset order.
        for (key, offsets) in model.firstStart {
            #expect(offsets == offsets.sorted(), "seed \(seed): \(key) started out of order: \(offsets)")
        }
    }
}
