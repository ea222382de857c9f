/// Why bytes are not a reply: which field is wrong and how, for people reading replies
/// (`provisioner replies`, the console) and for tests.
public struct ReplyDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The JSON path of the offending field (`error.category`); nil when the whole document is
    /// to blame (not UTF-8, not JSON, not an object).
    public var field: String?
    public var message: String

    public init(field: String?, message: String) {
        self.field = field
        self.message = message
    }

    public var description: String { message }
}
