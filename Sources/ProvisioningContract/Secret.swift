/// A value that must never reach a log line, an error message or a reply: passwords, tokens,
/// identity document numbers. Its descriptions are redacted; only `revealed` gives it away.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, Codable {
    public let revealed: String

    public init(_ value: String) { self.revealed = value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }

    public init(from decoder: any Decoder) throws {
        self.revealed = try decoder.singleValueContainer().decode(String.self)
    }

    /// Encoding writes the redaction marker, never the value: a secret serialised by accident
    /// (a reply, a dry-run request) stays secret. Adapters send `revealed` explicitly.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode("<redacted>")
    }
}
