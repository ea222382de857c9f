import Foundation
import Kafka
import Logging
import Redrive
import ServiceLifecycle
import Synchronization

/// The console's redrives: started from a request, run as tasks of this service's group, so
/// that none outlives the console; at shutdown each is cancelled (recorded as such) and awaited.
final class RedriveDesk: Service, Sendable {
    private let producer: KafkaProducer
    private let topics: Redrive.Topics
    private let history: RedriveHistory
    private let logger: Logger
    private let starts: AsyncStream<Redrive>
    private let start: AsyncStream<Redrive>.Continuation
    /// Redrives of this console run, newest last; finished ones beyond `keep` are forgotten
    /// (the audit topic has them).
    private let redrives = Mutex<[Redrive]>([])
    private let keep = 50

    /// `history` learns each redrive's outcome when it ends, before the audit topic brings it
    /// back: the dead-letter page marks what it sent at once.
    init(producer: KafkaProducer, topics: Redrive.Topics, history: RedriveHistory, logger: Logger) {
        self.producer = producer
        self.topics = topics
        self.history = history
        self.logger = logger
        (starts, start) = AsyncStream.makeStream(of: Redrive.self)
    }

    /// Starts a redrive of `plan`; it runs until done, cancelled or the console stops.
    func begin(_ plan: RedrivePlan, by user: String, asDryRun: Bool, rate: Double?) -> Redrive {
        let redrive = Redrive(plan: plan, by: user, asDryRun: asDryRun, rate: rate, producer: producer, topics: topics, logger: logger)
        redrives.withLock { redrives in
            redrives.append(redrive)
            if redrives.count > keep, let done = redrives.firstIndex(where: { [.completed, .cancelled, .failed].contains($0.progress.state) }) {
                redrives.remove(at: done)
            }
        }
        start.yield(redrive)
        return redrive
    }

    func redrive(_ id: String) -> Redrive? { redrives.withLock { $0.first { $0.id == id } } }

    var all: [Redrive] { redrives.withLock { $0.reversed() } }

    func run() async throws {
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                for await redrive in starts {
                    group.addTask { self.history.observe(await redrive.run()) }
                }
            }
        } onGracefulShutdown: {
            self.start.finish()
            for redrive in self.redrives.withLock({ $0 }) { redrive.cancel() }
        }
    }
}
