import Foundation
import Provisioning
import ProvisioningContract

/// The contract's operations (Foundation has an `Operation` too).
typealias Operation = ProvisioningContract.Operation

/// Typed, vendor-rule-checked access to `user.extensions.<vendor>`: every problem is a
/// `validation` failure naming the field, found before any call.
struct ExtensionFields {
    let vendor: VendorKind
    let object: [String: JSONValue]

    init(_ user: CanonicalUser?, _ vendor: VendorKind) {
        self.vendor = vendor
        if case .object(let object) = user?.extensions?[vendor.rawValue] {
            self.object = object
        } else {
            self.object = [:]
        }
    }

    func path(_ key: String) -> String { "user.extensions.\(vendor.rawValue).\(key)" }

    func invalid(_ key: String, _ problem: String, code: String? = nil) -> AdapterFailure {
        AdapterFailure(.validation, code: code, message: "'\(path(key))' \(problem)")
    }

    /// Refuses keys the vendor does not have.
    func onlyKeys(_ allowed: Set<String>) throws(AdapterFailure) {
        if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw AdapterFailure(.validation, message: "'\(path(unknown))' is not a \(vendor.rawValue) field; allowed: \(allowed.sorted().joined(separator: ", "))")
        }
    }

    private func value(_ key: String) -> JSONValue? {
        guard let value = object[key], value != .null else { return nil }
        return value
    }

    func string(_ key: String) throws(AdapterFailure) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else { throw invalid(key, "must be a string, not \(value.typeName)") }
        return text
    }

    func bool(_ key: String) throws(AdapterFailure) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let flag) = value else { throw invalid(key, "must be true or false, not \(value.typeName)") }
        return flag
    }

    func integer(_ key: String, code: String? = nil) throws(AdapterFailure) -> Int64? {
        guard let value = value(key) else { return nil }
        switch value {
        case .integer(let number): return number
        case .number(let number) where number == number.rounded() && abs(number) < 1e15: return Int64(number)
        default: throw invalid(key, "must be a whole number, not \(value.typeName)", code: code)
        }
    }

    func object(_ key: String) throws(AdapterFailure) -> [String: JSONValue]? {
        guard let value = value(key) else { return nil }
        guard case .object(let object) = value else { throw invalid(key, "must be an object, not \(value.typeName)") }
        return object
    }

    func array(_ key: String) throws(AdapterFailure) -> [JSONValue]? {
        guard let value = value(key) else { return nil }
        guard case .array(let items) = value else { throw invalid(key, "must be a list, not \(value.typeName)") }
        return items
    }

    func stringMap(_ key: String) throws(AdapterFailure) -> [String: String]? {
        guard let object = try object(key) else { return nil }
        var map: [String: String] = [:]
        for (name, value) in object {
            guard case .string(let text) = value else { throw invalid("\(key).\(name)", "must be a string, not \(value.typeName)") }
            map[name] = text
        }
        return map
    }
}

/// The calendar conversions vendors need: canonical dates are `yyyy-MM-dd` (checked by the decoder).
enum CalendarDate {
    private static var utc: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }

    private static func parts(_ date: String) -> (year: Int, month: Int, day: Int)? {
        let parts = date.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3 else { return nil }
        return (parts[0], parts[1], parts[2])
    }

    /// `2000-01-01` → `01.01.2000` (TECS).
    static func dotted(_ date: String) -> String? {
        guard let (year, month, day) = parts(date) else { return nil }
        return String(format: "%02d.%02d.%04d", day, month, year)
    }

    /// `01.01.2000` → `2000-01-01`.
    static func fromDotted(_ text: String) -> String? {
        let parts = text.split(separator: ".").compactMap { Int($0) }
        guard parts.count == 3 else { return nil }
        return String(format: "%04d-%02d-%02d", parts[2], parts[1], parts[0])
    }

    /// `2000-01-01` → milliseconds since the epoch at 00:00 UTC (ASMS).
    static func unixMilliseconds(_ date: String) -> Int64? {
        guard let (year, month, day) = parts(date),
              let moment = utc.date(from: DateComponents(year: year, month: month, day: day)) else { return nil }
        return Int64(moment.timeIntervalSince1970) * 1000
    }

    /// Milliseconds since the epoch → the UTC calendar date.
    static func fromUnixMilliseconds(_ milliseconds: Int64) -> String {
        let components = utc.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: Double(milliseconds) / 1000))
        return String(format: "%04d-%02d-%02d", components.year ?? 0, components.month ?? 0, components.day ?? 0)
    }
}

extension JSONValue {
    var integerValue: Int64? {
        switch self {
        case .integer(let value): value
        case .number(let value) where value == value.rounded(): Int64(value)
        case .string(let text): Int64(text)
        default: nil
        }
    }

    var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    var arrayValue: [JSONValue]? {
        if case .array(let value) = self { return value }
        return nil
    }

    /// A string, or a number written as one (vendors are loose about ids).
    var textValue: String? {
        switch self {
        case .string(let text): text
        case .integer(let number): String(number)
        case .number(let number): String(number)
        default: nil
        }
    }
}

extension Dictionary where Key == String, Value == JSONValue {
    /// Sets `key` when `value` is known; absent canonical fields stay out of vendor requests.
    mutating func set(_ key: String, _ value: String?) {
        if let value { self[key] = .string(value) }
    }

    /// The value of a key regardless of its case (ASMS matches field names case-insensitively).
    func anyCase(_ key: String) -> JSONValue? {
        self[key] ?? first { $0.key.caseInsensitiveCompare(key) == .orderedSame }?.value
    }
}

extension VendorResponse {
    /// What the vendor said, its body redacted.
    init(_ response: VendorHTTPResponse, code: String? = nil, message: String? = nil) {
        self.init(httpStatus: response.status, code: code, message: message, body: response.json.map { Redaction.redacted($0) })
    }
}

extension AdapterFailure {
    /// A failure the adapter decides on from what the vendor answered (a `conflict` after a read).
    init(_ category: ErrorCategory, message: String, after response: VendorHTTPResponse, vendorUserId: String? = nil) {
        self.init(category, message: message, vendorResponse: VendorResponse(response), vendorUserId: vendorUserId)
    }
}

/// Carries a failure out of a throwing adapter body into an `AdapterOutcome`.
func outcome(_ body: () async throws(AdapterFailure) -> AdapterOutcome) async -> AdapterOutcome {
    do {
        return try await body()
    } catch {
        return .failed(error)
    }
}

func planning(_ body: () throws(AdapterFailure) -> JSONValue) -> Result<JSONValue, AdapterFailure> {
    do {
        return .success(try body())
    } catch {
        return .failure(error)
    }
}

/// The command's `userId`; the router has already checked that the operation has one.
func requireUserId(_ command: ProvisioningCommand) throws(AdapterFailure) -> String {
    guard let userId = command.userId else {
        throw AdapterFailure(.invalidCommand, message: "'\(command.operation.rawValue)' needs 'userId'")
    }
    return userId
}

func requireUser(_ command: ProvisioningCommand) throws(AdapterFailure) -> CanonicalUser {
    guard let user = command.user else {
        throw AdapterFailure(.invalidCommand, message: "'\(command.operation.rawValue)' needs 'user'")
    }
    return user
}

/// For an idempotent create: does the user already at the vendor have what the command asks
/// for? A field the command does not mention cannot differ.
func matches(_ commanded: String?, _ existing: String?) -> Bool {
    guard let commanded else { return true }
    return existing?.caseInsensitiveCompare(commanded) == .orderedSame
}

/// A canonical user as reply JSON (`data.user`).
func canonicalJSON(_ user: CanonicalUser) -> JSONValue {
    guard let data = try? JSONEncoder().encode(user), let json = try? JSONDecoder().decode(JSONValue.self, from: data) else { return .null }
    return json
}

extension Result {
    var failure: Failure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}
