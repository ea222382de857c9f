import CRdKafka

/// Every failure of the Kafka layer, carrying librdkafka's own classification so that
/// callers can decide between retrying, aborting a transaction and rebuilding the client.
public struct KafkaError: Error, Sendable, Hashable, CustomStringConvertible {
    /// librdkafka's error code (`rd_kafka_resp_err_t`): negative values are client-side
    /// errors, positive ones are Kafka protocol errors.
    public let code: Code
    /// librdkafka's symbolic name, e.g. `NOT_COORDINATOR` or `_TIMED_OUT`.
    public let name: String
    /// Human-readable detail from librdkafka or from this module.
    public let message: String
    /// The operation may succeed if tried again.
    public let isRetriable: Bool
    /// The client instance is unusable and must be rebuilt (e.g. a fenced producer).
    public let isFatal: Bool
    /// The current transaction must be aborted; the producer itself stays usable.
    public let requiresAbort: Bool

    public var description: String {
        var flags: [String] = []
        if isFatal { flags.append("fatal") }
        if requiresAbort { flags.append("abortable") }
        if isRetriable { flags.append("retriable") }
        let suffix = flags.isEmpty ? "" : " [\(flags.joined(separator: ","))]"
        return "\(name) (\(code.rawValue)): \(message)\(suffix)"
    }

    public init(code: Code, message: String? = nil, isRetriable: Bool = false, isFatal: Bool = false, requiresAbort: Bool = false) {
        let err = rd_kafka_resp_err_t(rawValue: code.rawValue)
        self.code = code
        self.name = String(cString: rd_kafka_err2name(err))
        self.message = message ?? String(cString: rd_kafka_err2str(err))
        self.isRetriable = isRetriable
        self.isFatal = isFatal
        self.requiresAbort = requiresAbort
    }

    init(_ err: rd_kafka_resp_err_t, message: String? = nil) {
        self.init(code: Code(rawValue: err.rawValue), message: message, isRetriable: Self.retriableCodes.contains(err.rawValue))
    }

    /// Takes ownership of an `rd_kafka_error_t` and destroys it.
    init(consuming error: OpaquePointer) {
        defer { rd_kafka_error_destroy(error) }
        self.init(
            code: Code(rawValue: rd_kafka_error_code(error).rawValue),
            message: rd_kafka_error_string(error).map { String(cString: $0) },
            isRetriable: rd_kafka_error_is_retriable(error) != 0,
            isFatal: rd_kafka_error_is_fatal(error) != 0,
            requiresAbort: rd_kafka_error_txn_requires_abort(error) != 0
        )
    }

    /// An error raised by this module itself rather than by librdkafka.
    static func client(_ message: String) -> KafkaError {
        KafkaError(code: .invalidArgument, message: message)
    }

    /// Client-side codes that librdkafka retries itself or that are transient by nature.
    private static let retriableCodes: Set<Int32> = [
        RD_KAFKA_RESP_ERR__TRANSPORT, RD_KAFKA_RESP_ERR__TIMED_OUT, RD_KAFKA_RESP_ERR__QUEUE_FULL, RD_KAFKA_RESP_ERR__MSG_TIMED_OUT,
        RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN, RD_KAFKA_RESP_ERR__WAIT_COORD,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_NOT_COORDINATOR,
        RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE, RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION,
        RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
    ].reduce(into: []) { $0.insert($1.rawValue) }
}

extension KafkaError {
    /// A librdkafka error code; the named constants are those this project meets or injects.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        init(_ err: rd_kafka_resp_err_t) { self.rawValue = err.rawValue }

        public var description: String { String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(rawValue: rawValue))) }

        public static let noError = Code(RD_KAFKA_RESP_ERR_NO_ERROR)
        // Client-side (negative) codes.
        public static let transport = Code(RD_KAFKA_RESP_ERR__TRANSPORT)
        public static let timedOut = Code(RD_KAFKA_RESP_ERR__TIMED_OUT)
        public static let queueFull = Code(RD_KAFKA_RESP_ERR__QUEUE_FULL)
        public static let allBrokersDown = Code(RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN)
        public static let fatal = Code(RD_KAFKA_RESP_ERR__FATAL)
        public static let fenced = Code(RD_KAFKA_RESP_ERR__FENCED)
        public static let state = Code(RD_KAFKA_RESP_ERR__STATE)
        public static let invalidArgument = Code(RD_KAFKA_RESP_ERR__INVALID_ARG)
        public static let destroyed = Code(RD_KAFKA_RESP_ERR__DESTROY)
        public static let purgedInQueue = Code(RD_KAFKA_RESP_ERR__PURGE_QUEUE)
        public static let purgedInFlight = Code(RD_KAFKA_RESP_ERR__PURGE_INFLIGHT)
        public static let messageTimedOut = Code(RD_KAFKA_RESP_ERR__MSG_TIMED_OUT)
        public static let notImplemented = Code(RD_KAFKA_RESP_ERR__NOT_IMPLEMENTED)
        // Protocol (broker) codes.
        public static let offsetOutOfRange = Code(RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE)
        public static let unknownTopicOrPartition = Code(RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
        public static let leaderNotAvailable = Code(RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE)
        public static let notLeaderForPartition = Code(RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION)
        public static let requestTimedOut = Code(RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT)
        public static let brokerNotAvailable = Code(RD_KAFKA_RESP_ERR_BROKER_NOT_AVAILABLE)
        public static let networkException = Code(RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION)
        public static let coordinatorLoadInProgress = Code(RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS)
        public static let coordinatorNotAvailable = Code(RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE)
        public static let notCoordinator = Code(RD_KAFKA_RESP_ERR_NOT_COORDINATOR)
        public static let notEnoughReplicas = Code(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS)
        public static let illegalGeneration = Code(RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION)
        public static let unknownMemberId = Code(RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID)
        public static let rebalanceInProgress = Code(RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS)
        public static let topicAlreadyExists = Code(RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
        public static let invalidProducerEpoch = Code(RD_KAFKA_RESP_ERR_INVALID_PRODUCER_EPOCH)
        public static let concurrentTransactions = Code(RD_KAFKA_RESP_ERR_CONCURRENT_TRANSACTIONS)
        public static let producerFenced = Code(RD_KAFKA_RESP_ERR_PRODUCER_FENCED)
    }
}

/// Throws when librdkafka returned an error code.
@inline(__always)
func check(_ err: rd_kafka_resp_err_t, _ context: @autoclosure () -> String? = nil) throws(KafkaError) {
    guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
        let base = String(cString: rd_kafka_err2str(err))
        throw KafkaError(err, message: context().map { "\($0): \(base)" })
    }
}

/// Throws when librdkafka returned an `rd_kafka_error_t`.
@inline(__always)
func check(_ error: OpaquePointer?) throws(KafkaError) {
    if let error { throw KafkaError(consuming: error) }
}

extension KafkaError.Code {
    /// A broker error by its Kafka protocol name (`NOT_LEADER_OR_FOLLOWER`,
    /// `REQUEST_TIMED_OUT`, ...), librdkafka's older spelling of it, or `NONE`; nil for anything
    /// else, client-side codes included (a broker cannot answer with those).
    public init?(protocolName name: String) {
        guard let code = Self.protocolNames[name] else { return nil }
        self = code
    }

    /// The Kafka protocol's name of a broker error.
    public var protocolName: String {
        Self.renamed.first(where: { $0.value == self })?.key ?? description
    }

    /// Kafka's names where librdkafka 2.0.2 keeps an older one.
    private static let renamed: [String: KafkaError.Code] = [
        "NONE": .noError,
        "CORRUPT_MESSAGE": KafkaError.Code(RD_KAFKA_RESP_ERR_INVALID_MSG),
        "UNKNOWN_TOPIC_OR_PARTITION": .unknownTopicOrPartition,
        "INVALID_FETCH_SIZE": KafkaError.Code(RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE),
        "NOT_LEADER_OR_FOLLOWER": .notLeaderForPartition,
        "MESSAGE_TOO_LARGE": KafkaError.Code(RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE),
        "REPLICA_NOT_AVAILABLE": KafkaError.Code(RD_KAFKA_RESP_ERR_REPLICA_NOT_AVAILABLE),
        "NOT_ENOUGH_REPLICAS_AFTER_APPEND": KafkaError.Code(RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND),
        "UNKNOWN_SERVER_ERROR": KafkaError.Code(RD_KAFKA_RESP_ERR_UNKNOWN),
    ]

    private static let protocolNames: [String: KafkaError.Code] = {
        var names = renamed
        var descriptions: UnsafePointer<rd_kafka_err_desc>?
        var count = 0
        rd_kafka_get_err_descs(&descriptions, &count)
        guard let descriptions else { return names }
        for index in 0..<count {
            let entry = descriptions[index]
            guard entry.code.rawValue > 0, let name = entry.name else { continue }
            names[String(cString: name)] = KafkaError.Code(entry.code)
        }
        return names
    }()
}
