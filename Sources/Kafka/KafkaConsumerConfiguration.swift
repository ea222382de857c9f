/// How a `KafkaConsumer` joins its group. Anything not modelled here goes in `properties`,
/// which are passed to librdkafka as they are and win over the defaults.
public struct KafkaConsumerConfiguration: Sendable {
    public var bootstrapServers: String
    public var groupId: String
    public var topics: [String]
    /// Eager by default: see `RebalanceProtocol.cooperative` for why. A
    /// `partition.assignment.strategy` in `properties` wins over it.
    public var rebalanceProtocol: RebalanceProtocol = .eager
    /// How many messages may wait for the reader before the consumer takes no more from
    /// librdkafka, whose prefetch queue then fills and stops fetching. Rebalance events queue
    /// behind the buffered messages: a member that stops reading for `max.poll.interval.ms`
    /// leaves its group.
    public var bufferCapacity: Int = 1024
    /// The longest a revocation waits for `KafkaPartitionRevocation.complete()` before the
    /// partitions are released anyway.
    public var revokeTimeout: Duration = .seconds(30)
    /// Raw librdkafka properties, e.g. `session.timeout.ms` or `statistics.interval.ms`. Unless
    /// given, `heartbeat.interval.ms` is a tenth of `session.timeout.ms` (at most 3 s).
    public var properties: [String: String] = [:]

    /// Whether the consumer joins `groupId` and subscribes to `topics`; false for a reader that
    /// assigns itself partitions (`KafkaConsumer.assign`) and never commits (`groupless`).
    public private(set) var joinsGroup = true

    public init(bootstrapServers: String, groupId: String, topics: [String], properties: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.groupId = groupId
        self.topics = topics
        self.properties = properties
    }

    /// A consumer that joins no group: it reads the partitions it is given by `assign`, from the
    /// offsets given, and cannot commit. Nothing it does is seen by any group's members or moves
    /// anyone's offsets, and it starts without waiting for a rebalance.
    public static func groupless(bootstrapServers: String, properties: [String: String] = [:]) -> KafkaConsumerConfiguration {
        // librdkafka's consumer needs a group.id to start, but sends it only to subscribe or
        // commit, which a group-less consumer never does.
        // `enable.partition.eof`: the reader learns where a partition ends from the broker's Fetch
        // answers (`KafkaConsumerEvent.partitionEnd`), not only from a watermark asked for earlier.
        let reading = ["enable.partition.eof": "true"].merging(properties) { _, given in given }
        var configuration = KafkaConsumerConfiguration(bootstrapServers: bootstrapServers, groupId: "provisioner-groupless", topics: [], properties: reading)
        configuration.joinsGroup = false
        return configuration
    }

    /// How partitions move between group members.
    public enum RebalanceProtocol: String, Sendable {
        /// `cooperative-sticky`: only the partitions that change owner are revoked, so the rest of
        /// the group keeps working while a member joins or leaves.
        ///
        /// Not for a consumer that commits while it works, with librdkafka 2.0.2: a commit sent
        /// while the member's own JoinGroup is held by the coordinator is answered after the
        /// generation moved on, with ILLEGAL_GENERATION, and librdkafka then declares every
        /// partition of the member lost and rejoins (librdkafka #4059, fixed upstream by #4908).
        /// The rejoin starts the next rebalance, in which the other members' commits meet the
        /// same fate, and their uncommitted work is done again each time. (librdkafka 2.0.2 also
        /// aborts when such a consumer is destroyed before its first assignment; `KafkaConsumer`
        /// then leaves the closed handle undestroyed instead.)
        case cooperative = "cooperative-sticky"
        /// `range`: every rebalance revokes every partition from every member first, before the
        /// member rejoins, so its last commits go out under the generation they were made in.
        /// The default.
        case eager = "range"
    }

    /// The protocol librdkafka will use, `properties` included.
    var effectiveRebalanceProtocol: RebalanceProtocol {
        librdkafkaProperties["partition.assignment.strategy"].map { $0.contains("cooperative") ? .cooperative : .eager } ?? rebalanceProtocol
    }

    var librdkafkaProperties: [String: String] {
        var result: [String: String] = [
            "bootstrap.servers": bootstrapServers,
            "group.id": groupId,
            "partition.assignment.strategy": rebalanceProtocol.rawValue,
            // The caller decides what is done: nothing is stored or committed behind its back.
            "enable.auto.offset.store": "false",
            "enable.auto.commit": "false",
            "auto.offset.reset": "earliest",
            "enable.partition.eof": "false",
            "log.connection.close": "false",
        ]
        result.merge(properties) { _, override in override }
        // librdkafka's 3 s default heartbeat suits its 45 s default session only. A member learns
        // of a rebalance from its heartbeat, and one that rejoins late is fenced and loses its
        // partitions with their uncommitted work: with a shorter session, beat a tenth of it.
        if result["heartbeat.interval.ms"] == nil, let session = result["session.timeout.ms"].flatMap(Int.init) {
            result["heartbeat.interval.ms"] = "\(min(3000, max(100, session / 10)))"
        }
        return result
    }
}
