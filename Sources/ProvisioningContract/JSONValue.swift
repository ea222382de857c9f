import Foundation

/// Any JSON value, for the parts of the contract whose shape belongs to a vendor
/// (`user.extensions.<vendor>`, reply `data`, `vendorResponse`).
public enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .integer(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// The JSON type's name, for validation messages.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .integer, .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    // The accessors below are the only ones on JSONValue: commands, replies, adapters and
    // simulators all read JSON through them, so a field means the same thing everywhere.
    // Each answers nil when the value is of another type; none converts between types, except
    // `textValue`, whose name says so.

    /// The member `key` of an object; nil for a missing key or when this is not an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// The one integer rule: an integer is a JSON number with no fraction that fits in `Int64`.
    /// `2` and `2.0` are 2; `2.5`, `1e300`, `"2"` and `true` are not integers. (`JSONParser`
    /// already makes whole numbers within range `.integer`; the `.number` case covers values
    /// built in code.) Where a vendor writes numbers as strings, the caller says so explicitly.
    public var integerValue: Int64? {
        switch self {
        case .integer(let value): value
        case .number(let value): Int64(exactly: value)
        default: nil
        }
    }

    /// `integerValue` as an `Int`, by the same rule.
    public var intValue: Int? { integerValue.flatMap { Int(exactly: $0) } }

    /// A string, or a number written as one: vendors are loose about ids and codes, and an id
    /// is text however it was sent. `2` gives "2", `2.5` gives "2.5".
    public var textValue: String? {
        switch self {
        case .string(let text): text
        case .integer(let number): String(number)
        case .number(let number): String(number)
        default: nil
        }
    }
}
