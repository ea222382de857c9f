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
            throw AdapterFailure(
                .validation, message: "'\(path(unknown))' is not a \(vendor.rawValue) field; allowed: \(allowed.sorted().joined(separator: ", "))")
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

/// The calendar conversions vendors need: canonical dates are `yyyy-MM-dd` (checked by the
/// decoder). Plain arithmetic on the proleptic Gregorian calendar in UTC: `String(format:)` and
/// `Calendar` cost more than the rest of a request's mapping.
enum CalendarDate {
    private static func parts(_ date: String) -> (year: Int, month: Int, day: Int)? {
        let parts = date.split(separator: "-").compactMap { Int($0) }
        guard parts.count == 3 else { return nil }
        return (parts[0], parts[1], parts[2])
    }

    private static func padded(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// `2000-01-01` → `01.01.2000` (TECS).
    static func dotted(_ date: String) -> String? {
        guard let (year, month, day) = parts(date) else { return nil }
        return "\(padded(day, 2)).\(padded(month, 2)).\(padded(year, 4))"
    }

    /// `01.01.2000` → `2000-01-01`.
    static func fromDotted(_ text: String) -> String? {
        let parts = text.split(separator: ".").compactMap { Int($0) }
        guard parts.count == 3 else { return nil }
        return "\(padded(parts[2], 4))-\(padded(parts[1], 2))-\(padded(parts[0], 2))"
    }

    /// `2000-01-01` → milliseconds since the epoch at 00:00 UTC (ASMS).
    static func unixMilliseconds(_ date: String) -> Int64? {
        guard let (year, month, day) = parts(date), (1...12).contains(month), (1...31).contains(day) else { return nil }
        return Int64(daysFromCivil(year, month, day)) * 86_400_000
    }

    /// Milliseconds since the epoch → the UTC calendar date.
    static func fromUnixMilliseconds(_ milliseconds: Int64) -> String {
        let days = Int((Double(milliseconds) / 86_400_000).rounded(.down))
        let (year, month, day) = civilFromDays(days)
        return "\(padded(year, 4))-\(padded(month, 2))-\(padded(day, 2))"
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    private static func daysFromCivil(_ year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    private static func civilFromDays(_ days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// A number as vendors send it: a JSON integer (`JSONValue.integerValue`'s rule) or a string
/// of decimal digits. ASMS's enumerations, flags and dates and TECS's `responseCode` have come
/// both ways; the looseness is the vendors', so it stays here, at the adapters' edge, and not in
/// `JSONValue`'s one integer rule.
func vendorInteger(_ value: JSONValue?) -> Int64? {
    guard let value else { return nil }
    return value.integerValue ?? value.stringValue.flatMap { Int64($0) }
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
