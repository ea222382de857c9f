/// Kafka protocol request types, for fault injection.
public struct KafkaAPIKey: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }

    /// The request type by its Kafka protocol name (`Produce`, `OffsetCommit`, ...), or nil.
    public init?(name: String) {
        guard let key = Self.names.first(where: { $0.value == name })?.key else { return nil }
        self.rawValue = key
    }

    /// The Kafka protocol name, or the number for a request type clients do not send.
    public var description: String { Self.names[rawValue] ?? "ApiKey\(rawValue)" }

    /// Every request type a client sends (the broker-to-broker ones are left out).
    public static var all: [KafkaAPIKey] { names.keys.sorted().map(KafkaAPIKey.init(rawValue:)) }

    public static let produce = KafkaAPIKey(rawValue: 0)
    public static let fetch = KafkaAPIKey(rawValue: 1)
    public static let listOffsets = KafkaAPIKey(rawValue: 2)
    public static let metadata = KafkaAPIKey(rawValue: 3)
    public static let offsetCommit = KafkaAPIKey(rawValue: 8)
    public static let offsetFetch = KafkaAPIKey(rawValue: 9)
    public static let findCoordinator = KafkaAPIKey(rawValue: 10)
    public static let joinGroup = KafkaAPIKey(rawValue: 11)
    public static let heartbeat = KafkaAPIKey(rawValue: 12)
    public static let leaveGroup = KafkaAPIKey(rawValue: 13)
    public static let syncGroup = KafkaAPIKey(rawValue: 14)
    public static let initProducerId = KafkaAPIKey(rawValue: 22)
    public static let addPartitionsToTxn = KafkaAPIKey(rawValue: 24)
    public static let addOffsetsToTxn = KafkaAPIKey(rawValue: 25)
    public static let endTxn = KafkaAPIKey(rawValue: 26)
    public static let txnOffsetCommit = KafkaAPIKey(rawValue: 28)

    /// The Kafka protocol's names of the request types clients send.
    private static let names: [Int16: String] = [
        0: "Produce", 1: "Fetch", 2: "ListOffsets", 3: "Metadata", 8: "OffsetCommit", 9: "OffsetFetch",
        10: "FindCoordinator", 11: "JoinGroup", 12: "Heartbeat", 13: "LeaveGroup", 14: "SyncGroup",
        15: "DescribeGroups", 16: "ListGroups", 17: "SaslHandshake", 18: "ApiVersions", 19: "CreateTopics",
        20: "DeleteTopics", 21: "DeleteRecords", 22: "InitProducerId", 23: "OffsetForLeaderEpoch",
        24: "AddPartitionsToTxn", 25: "AddOffsetsToTxn", 26: "EndTxn", 28: "TxnOffsetCommit",
        29: "DescribeAcls", 30: "CreateAcls", 31: "DeleteAcls", 32: "DescribeConfigs", 33: "AlterConfigs",
        36: "SaslAuthenticate", 37: "CreatePartitions", 42: "DeleteGroups", 47: "OffsetDelete",
    ]
}
