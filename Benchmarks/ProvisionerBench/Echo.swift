import ArgumentParser
import Foundation
import Kafka
import Synchronization

/// The raw Kafka path, the ceiling every scenario is compared with: consume each command and
/// produce a reply-sized record with the command's key, through the same Kafka module and with
/// the same commit discipline as the worker (an offset is committed, every second, only once the
/// records below it are acknowledged), and no processing at all.
struct Echo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The raw path: consume, produce a reply-sized record, commit.")

    @Option var bootstrap: String
    @Option var group: String
    @Option var commands = "provisioning.commands"
    @Option var replies = "provisioning.replies"
    @Option(help: "Bytes of each reply (a typical reply is about 600).")
    var replySize = 600
    @Option(help: "Records in flight at once (the worker's maxInFlight).")
    var maxInFlight = 256

    func run() async throws {
        var consumerConfiguration = KafkaConsumerConfiguration(bootstrapServers: bootstrap, groupId: group, topics: [commands])
        // As the worker's in the benchmark (see its configuration there).
        consumerConfiguration.properties = ["session.timeout.ms": "10000", "fetch.wait.max.ms": "5"]
        let payload = [UInt8](repeating: UInt8(ascii: "x"), count: replySize)
        let (replies, maxInFlight) = (self.replies, self.maxInFlight)
        // Runs until SIGTERM, whose default action ends the process: the benchmark is over by then.
        try await withKafkaClients { clients in
            let consumer = clients.run(try KafkaConsumer(configuration: consumerConfiguration, logger: quietLogger))
            let producer = clients.run(try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap), logger: quietLogger))
            let offsets = PendingOffsets()
            let slots = AsyncSemaphore(maxInFlight)
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    while (try? await Task.sleep(for: .seconds(1))) != nil {
                        try? await consumer.commit(offsets.committable())
                    }
                }
                for await event in consumer.events {
                    switch event {
                    case .message(let message):
                        await slots.wait()
                        offsets.started(message)
                        // No task per record: the acknowledgement's callback ends the record's turn.
                        let finished: @Sendable (Result<KafkaDeliveryReport, KafkaError>) -> Void = { _ in
                            offsets.done(message)
                            slots.signal()
                        }
                        do throws(KafkaError) {
                            try producer.submit(KafkaProducerMessage(topic: replies, key: message.key, value: payload)).whenAcknowledged(finished)
                        } catch {
                            finished(.failure(error))
                        }
                    case .partitionsAssigned:
                        // The benchmark waits for this line before it sends.
                        FileHandle.standardOutput.write(Data("assigned\n".utf8))
                    case .partitionsRevoked(let revocation):
                        revocation.complete()
                    default:
                        break
                    }
                }
                group.cancelAll()
            }
        }
    }
}

/// Per partition, the offsets still in flight: the commit point is the lowest of them, or one
/// past the highest finished when none is.
final class PendingOffsets: Sendable {
    private struct Partition {
        var inFlight: Set<Int64> = []
        var highestDone: Int64 = -1
    }

    private let state = Mutex<[KafkaTopicPartition: Partition]>([:])

    func started(_ message: KafkaConsumerMessage) {
        state.withLock { _ = $0[message.topicPartition, default: Partition()].inFlight.insert(message.offset) }
    }

    func done(_ message: KafkaConsumerMessage) {
        state.withLock { partitions in
            guard var partition = partitions[message.topicPartition] else { return }
            partition.inFlight.remove(message.offset)
            partition.highestDone = max(partition.highestDone, message.offset)
            partitions[message.topicPartition] = partition
        }
    }

    func committable() -> [KafkaTopicPartitionOffset] {
        state.withLock { partitions in
            partitions.compactMap { partition, state in
                let next = state.inFlight.min() ?? (state.highestDone + 1)
                return next > 0 ? KafkaTopicPartitionOffset(partition, offset: next) : nil
            }
        }
    }
}

/// At most `limit` holders at once; the rest wait in order.
final class AsyncSemaphore: Sendable {
    private struct State {
        var available: Int
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state: Mutex<State>

    init(_ limit: Int) { state = Mutex(State(available: limit)) }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { state -> Bool in
                if state.available > 0 {
                    state.available -= 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if acquired { continuation.resume() }
        }
    }

    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        waiter?.resume()
    }
}
