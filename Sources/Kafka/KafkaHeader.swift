/// A Kafka record header. Names may repeat; order is preserved end to end.
public struct KafkaHeader: Sendable, Hashable {
    public var key: String
    /// `nil` is a header without a value, distinct from an empty one.
    public var value: [UInt8]?

    public init(key: String, value: [UInt8]?) {
        self.key = key
        self.value = value
    }

    public init(key: String, value: String) {
        self.init(key: key, value: Array(value.utf8))
    }

    /// The value as UTF-8 text, when it is valid UTF-8.
    public var stringValue: String? {
        value.flatMap { String(validating: $0, as: UTF8.self) }
    }
}

extension Array where Element == KafkaHeader {
    /// The last value of the header named `key`, as text.
    public func string(_ key: String) -> String? {
        last(where: { $0.key == key })?.stringValue
    }
}
