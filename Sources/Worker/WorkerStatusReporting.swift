import Foundation
import Kafka

/// Where and how often a worker publishes its status record (contract section 10). The
/// producer is the worker's own for this purpose: plain (never transactional, so a record goes
/// out in either delivery mode), run in the worker's group and shut down after its `stopped` record.
public struct WorkerStatusReporting: Sendable {
    public var producer: any RecordProducer
    public var topic: String
    /// The worker's software version, as the record names it.
    public var version: String
    /// How often a `running` (or `stopping`) record goes out; the console marks a worker gone
    /// after three intervals without one.
    public var interval: Duration = .seconds(5)

    public init(producer: any RecordProducer, topic: String, version: String) {
        self.producer = producer
        self.topic = topic
        self.version = version
    }
}

/// Per target, since the worker started: what the status record counts.
struct TargetTally: Sendable {
    var succeeded = 0
    var failed = 0
    var retries = 0
}
