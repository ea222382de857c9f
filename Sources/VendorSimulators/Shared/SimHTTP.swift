import Foundation
import ProvisioningContract

/// A request as the vendor handlers see it: decoded path segments, query, headers and the raw body.
/// Kept free of Hummingbird so the vendor code is plain, synchronous and easy to read.
struct SimRequest: Sendable {
    var method: String
    /// The path below the vendor's prefix, percent-decoded, empty segments dropped.
    var segments: [String]
    var query: [String: String]
    /// Header names lower-cased.
    var headers: [String: String]
    var body: [UInt8]
    var contentType: String { headers["content-type"]?.lowercased() ?? "" }

    func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// The body as JSON, or nil when it is not JSON.
    var json: JSONValue? {
        guard !body.isEmpty else { return nil }
        return try? JSONParser.parse(body)
    }

    /// The body as a JSON object; nil when it is empty or not an object.
    var jsonObject: [String: JSONValue]? {
        if case .object(let object) = json { return object }
        return nil
    }

    var isBodyEmpty: Bool { body.allSatisfy { $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 } }
}

/// An answer before it becomes a Hummingbird `Response`.
struct SimResponse: Sendable {
    var status: Int
    var headers: [(String, String)] = []
    var body: String = ""

    /// `topLevelOrder` puts these keys first at the top level, e.g. ASMS's `{"id":4848,"result":true}`.
    static func json(_ status: Int, _ value: JSONValue, topLevelOrder: [String] = []) -> SimResponse {
        var json = JSONWriter()
        if !topLevelOrder.isEmpty, let object = value.objectValue {
            json.beginObject()
            for key in JSONKeyOrder(leading: topLevelOrder + Self.vendorOrder.leading).sorted(object.keys) {
                json.key(key)
                json.value(object[key], keyOrder: Self.vendorOrder)
            }
            json.endObject()
        } else {
            json.value(value, keyOrder: Self.vendorOrder)
        }
        return SimResponse(
            status: status, headers: [("Content-Type", "application/json; charset=utf-8")], body: String(decoding: json.bytes, as: UTF8.self))
    }

    /// A stable key order for vendor bodies: the keys vendors put first in their examples
    /// (`result`, `responseCode`, `id`, ...) lead, the rest follow alphabetically, so that
    /// answers read like the vendors' documentation and tests can compare bodies as text.
    static let vendorOrder = JSONKeyOrder(leading: [
        "result", "status", "responseCode", "responseMessage", "consumerId", "id", "_id", "token", "renewToken",
        "code", "detail", "message", "params", "dataPath", "data", "errors", "codes", "details", "users",
    ])

    static func text(_ status: Int, _ text: String) -> SimResponse {
        SimResponse(status: status, headers: [("Content-Type", "text/plain; charset=utf-8")], body: text)
    }

    static func empty(_ status: Int = 200) -> SimResponse { SimResponse(status: status) }
}

/// `application/x-www-form-urlencoded` and query strings.
enum FormDecoding {
    /// `%XX` is a byte and, in forms and queries (not paths), `+` a space; a malformed escape
    /// stays as it is.
    static func decode(_ text: Substring, plusIsSpace: Bool = true) -> String {
        let input = Array(text.utf8)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(input.count)
        var index = 0
        while index < input.count {
            let byte = input[index]
            if byte == UInt8(ascii: "+"), plusIsSpace {
                bytes.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), index + 2 < input.count, let high = hex(input[index + 1]), let low = hex(input[index + 2]) {
                bytes.append(high << 4 | low)
                index += 2
            } else {
                bytes.append(byte)
            }
            index += 1
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Pairs in order, names and values decoded.
    static func pairs(_ text: String) -> [(String, String)] {
        text.split(separator: "&", omittingEmptySubsequences: true).map { pair in
            if let equals = pair.firstIndex(of: "=") {
                return (decode(pair[..<equals]), decode(pair[pair.index(after: equals)...]))
            }
            return (decode(pair), "")
        }
    }

    /// The first value of each name.
    static func query(_ text: String?) -> [String: String] {
        var result: [String: String] = [:]
        for (name, value) in pairs(text ?? "") where result[name] == nil { result[name] = value }
        return result
    }

    /// A form body as a JSON object: names repeated (or ending in `[]`) in `arrayNames` become arrays,
    /// `a[b]=c` becomes a nested object; every value is a string.
    static func object(_ text: String, arrayNames: Set<String>) -> [String: JSONValue] {
        var result: [String: JSONValue] = [:]
        for (rawName, value) in pairs(text) {
            var name = rawName
            if name.hasSuffix("[]") { name.removeLast(2) }
            if let open = name.firstIndex(of: "["), name.hasSuffix("]") {
                let outer = String(name[..<open])
                let inner = String(name[name.index(after: open)..<name.index(before: name.endIndex)])
                var nested: [String: JSONValue] = [:]
                if case .object(let existing) = result[outer] { nested = existing }
                nested[inner] = .string(value)
                result[outer] = .object(nested)
            } else if arrayNames.contains(name) {
                var items: [JSONValue] = []
                if case .array(let existing) = result[name] { items = existing }
                items.append(.string(value))
                result[name] = .array(items)
            } else {
                result[name] = .string(value)
            }
        }
        return result
    }
}

/// FNV-1a 64-bit: deterministic ids that survive a reset.
func fnv1a64(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01b3
    }
    return hash
}

func hex(_ value: UInt64, digits: Int) -> String {
    let text = String(value, radix: 16)
    let padded = String(repeating: "0", count: max(0, 16 - text.count)) + text
    return String(padded.suffix(digits))
}

/// A random token, unique enough for a simulator.
func randomToken(_ prefix: String) -> String {
    prefix + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
}
