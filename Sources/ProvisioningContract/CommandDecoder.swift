import Foundation

/// Why a message is not a valid command. Carries what could still be read of it, so that the
/// reply can name the command (contract section 4: one reply per command whose `commandId` can
/// be read) and the message names the offending field.
public struct CommandRejection: Error, Sendable, Hashable, CustomStringConvertible {
    public var commandId: String?
    public var correlationId: String?
    public var target: String?
    public var operation: String?
    /// The JSON path of the offending field (`user.email`), when one field is to blame.
    public var field: String?
    public var message: String

    public var description: String { message }
}

/// Turns a Kafka record value into a validated `ProvisioningCommand`, strictly (contract sections
/// 2 and 3): every problem is reported with the field it concerns. Unknown top-level fields are
/// ignored so that upstream systems can add fields before workers know them.
public enum CommandDecoder {
    public static let maximumSize = 1 << 20
    public static let maximumCommandIdLength = 128

    public static func decode(_ value: [UInt8]?) -> Result<ProvisioningCommand, CommandRejection> {
        guard let value, !value.isEmpty else {
            return .failure(CommandRejection(message: "the message has no value"))
        }
        guard value.count <= maximumSize else {
            return .failure(CommandRejection(message: "the message is \(value.count) bytes, more than the 1 MiB limit"))
        }
        guard String(validating: value, as: UTF8.self) != nil else {
            return .failure(CommandRejection(message: "the message is not valid UTF-8"))
        }
        let json: JSONValue
        do {
            json = try JSONParser.parse(value)
        } catch {
            return .failure(CommandRejection(message: "the message is not JSON"))
        }
        guard case .object(let object) = json else {
            return .failure(CommandRejection(message: "the command must be a JSON object, not \(json.typeName)"))
        }
        var partial = CommandRejection(message: "")
        partial.commandId = object["commandId"]?.stringValue
        partial.correlationId = object["correlationId"]?.stringValue
        partial.target = object["target"]?.stringValue
        partial.operation = object["operation"]?.stringValue
        do {
            return .success(try command(Fields(object, path: "")))
        } catch let problem {
            partial.field = problem.field
            partial.message = problem.message
            return .failure(partial)
        }
    }

    private static func command(_ fields: Fields) throws(FieldProblem) -> ProvisioningCommand {
        if let schema = try fields.string("schema") {
            let supported = schema == ProvisioningCommand.schema || schema.hasPrefix(ProvisioningCommand.schema + ".")
            guard supported else {
                throw FieldProblem("schema", "unsupported schema '\(schema)': this worker reads \(ProvisioningCommand.schema)")
            }
        }
        let commandId = try fields.requiredString("commandId")
        guard commandId.count <= maximumCommandIdLength else {
            throw FieldProblem("commandId", "'commandId' is \(commandId.count) characters, more than \(maximumCommandIdLength)")
        }
        let operationName = try fields.requiredString("operation")
        guard let operation = Operation(rawValue: operationName) else {
            throw FieldProblem(
                "operation", "unknown operation '\(operationName)'; expected one of \(Operation.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let command = ProvisioningCommand(
            commandId: commandId,
            correlationId: try fields.string("correlationId"),
            target: try fields.requiredString("target"),
            operation: operation,
            userId: try fields.string("userId", nonEmpty: true),
            user: try fields.object("user").map { fields throws(FieldProblem) in try user(fields) },
            roles: try fields.array("roles").map { items throws(FieldProblem) in try roles(items) },
            groups: try fields.stringArray("groups"),
            status: try fields.string("status").map { value throws(FieldProblem) in
                guard let status = UserStatus(rawValue: value) else {
                    throw FieldProblem("status", "'status' must be 'active' or 'inactive', not '\(value)'")
                }
                return status
            },
            password: try fields.string("password", nonEmpty: true).map(Secret.init),
            dryRun: try fields.bool("dryRun") ?? false,
            notAfter: try fields.date("notAfter")
        )
        for field in operation.requiredFields where !command.has(field) {
            throw FieldProblem(field, "'\(operation.rawValue)' needs '\(field)'")
        }
        if operation == .createUser, let user = command.user, user.userName == nil, user.email == nil {
            throw FieldProblem("user", "'createUser' needs 'user.userName' or 'user.email'")
        }
        return command
    }

    private static func user(_ fields: Fields) throws(FieldProblem) -> CanonicalUser {
        var user = CanonicalUser()
        user.userName = try fields.string("userName", nonEmpty: true)
        user.email = try fields.string("email")
        if let email = user.email, !isEmailAddress(email) {
            throw FieldProblem(fields.path("email"), "'\(fields.path("email"))' is not an email address")
        }
        user.givenName = try fields.string("givenName")
        user.familyName = try fields.string("familyName")
        user.displayName = try fields.string("displayName")
        user.salutation = try fields.string("salutation")
        user.birthDate = try fields.string("birthDate")
        if let birthDate = user.birthDate, !isCalendarDate(birthDate) {
            throw FieldProblem(fields.path("birthDate"), "'\(fields.path("birthDate"))' must be a date as yyyy-MM-dd, not '\(birthDate)'")
        }
        user.phone = try fields.string("phone")
        user.mobile = try fields.string("mobile")
        user.locale = try fields.string("locale")
        user.active = try fields.bool("active")
        user.password = try fields.string("password", nonEmpty: true).map(Secret.init)
        user.groups = try fields.stringArray("groups")
        if let address = try fields.object("address") {
            user.address = CanonicalUser.Address(
                street1: try address.string("street1"), street2: try address.string("street2"), city: try address.string("city"),
                state: try address.string("state"), postalCode: try address.string("postalCode"), country: try address.string("country")
            )
        }
        if let documents = try fields.object("documents") {
            user.documents = CanonicalUser.Documents(
                nationalId: try documents.string("nationalId").map(Secret.init),
                passport: try documents.string("passport").map(Secret.init),
                driverLicence: try documents.string("driverLicence").map(Secret.init)
            )
        }
        if let extensions = try fields.object("extensions") {
            var result: [String: JSONValue] = [:]
            for (vendor, value) in extensions.object {
                guard case .object = value else {
                    throw FieldProblem(extensions.path(vendor), "'\(extensions.path(vendor))' must be an object, not \(value.typeName)")
                }
                result[vendor] = value
            }
            user.extensions = result
        }
        return user
    }

    private static func roles(_ items: [(Fields?, JSONValue, String)]) throws(FieldProblem) -> [Role] {
        var roles: [Role] = []
        for (fields, value, path) in items {
            guard let fields else { throw FieldProblem(path, "'\(path)' must be an object with 'name', not \(value.typeName)") }
            roles.append(Role(name: try fields.requiredString("name"), scope: try fields.string("scope")))
        }
        return roles
    }

    static func isEmailAddress(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard text.count <= 254, parts.count == 2, !parts[0].isEmpty, !text.contains(where: \.isWhitespace) else { return false }
        let domain = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        return domain.count >= 2 && domain.allSatisfy { !$0.isEmpty }
    }

    static func isCalendarDate(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard text.count == 10, parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
            (1...12).contains(month), day >= 1
        else { return false }
        var components = DateComponents()
        (components.year, components.month, components.day) = (year, month, day)
        let calendar = Calendar(identifier: .gregorian)
        guard let date = calendar.date(from: components) else { return false }
        return calendar.component(.day, from: date) == day && calendar.component(.month, from: date) == month
    }
}

/// One field's problem, before it becomes a `CommandRejection`.
struct FieldProblem: Error {
    let field: String
    let message: String
    init(_ field: String, _ message: String) {
        self.field = field
        self.message = message
    }
}

/// Typed, path-aware access to a JSON object's fields.
struct Fields {
    let object: [String: JSONValue]
    let prefix: String

    init(_ object: [String: JSONValue], path prefix: String) {
        self.object = object
        self.prefix = prefix
    }

    func path(_ key: String) -> String { prefix.isEmpty ? key : "\(prefix).\(key)" }

    /// The value, treating JSON null like an absent field.
    func value(_ key: String) -> JSONValue? {
        guard let value = object[key], value != .null else { return nil }
        return value
    }

    private func wrongType(_ key: String, _ expected: String, _ value: JSONValue) -> FieldProblem {
        FieldProblem(path(key), "'\(path(key))' must be \(expected), not \(value.typeName)")
    }

    func string(_ key: String, nonEmpty: Bool = false) throws(FieldProblem) -> String? {
        guard let value = value(key) else { return nil }
        guard case .string(let text) = value else { throw wrongType(key, "a string", value) }
        if nonEmpty, text.isEmpty { throw FieldProblem(path(key), "'\(path(key))' must not be empty") }
        return text
    }

    func requiredString(_ key: String) throws(FieldProblem) -> String {
        guard let text = try string(key) else { throw FieldProblem(path(key), "missing required field '\(path(key))'") }
        guard !text.isEmpty else { throw FieldProblem(path(key), "'\(path(key))' must not be empty") }
        return text
    }

    func bool(_ key: String) throws(FieldProblem) -> Bool? {
        guard let value = value(key) else { return nil }
        guard case .bool(let flag) = value else { throw wrongType(key, "true or false", value) }
        return flag
    }

    /// An integer by `JSONValue.integerValue`'s rule: a number with no fraction that fits.
    func integer(_ key: String) throws(FieldProblem) -> Int? {
        guard let value = value(key) else { return nil }
        guard let integer = value.intValue else { throw wrongType(key, "an integer", value) }
        return integer
    }

    func number(_ key: String) throws(FieldProblem) -> Double? {
        guard let value = value(key) else { return nil }
        switch value {
        case .integer(let integer): return Double(integer)
        case .number(let number): return number
        default: throw wrongType(key, "a number", value)
        }
    }

    /// A field that must be there, whatever its type: `try fields.required("attempts", fields.integer("attempts"))`.
    func required<Value>(_ key: String, _ value: Value?) throws(FieldProblem) -> Value {
        guard let value else { throw FieldProblem(path(key), "missing required field '\(path(key))'") }
        return value
    }

    func object(_ key: String) throws(FieldProblem) -> Fields? {
        guard let value = value(key) else { return nil }
        guard case .object(let object) = value else { throw wrongType(key, "an object", value) }
        return Fields(object, path: path(key))
    }

    /// Each element with its path, and its fields when it is an object.
    func array(_ key: String) throws(FieldProblem) -> [(Fields?, JSONValue, String)]? {
        guard let value = value(key) else { return nil }
        guard case .array(let items) = value else { throw wrongType(key, "an array", value) }
        return items.enumerated().map { index, item in
            let itemPath = "\(path(key))[\(index)]"
            if case .object(let object) = item { return (Fields(object, path: itemPath), item, itemPath) }
            return (nil, item, itemPath)
        }
    }

    func stringArray(_ key: String) throws(FieldProblem) -> [String]? {
        guard let items = try array(key) else { return nil }
        var strings: [String] = []
        for (_, item, itemPath) in items {
            guard case .string(let text) = item else { throw FieldProblem(itemPath, "'\(itemPath)' must be a string, not \(item.typeName)") }
            strings.append(text)
        }
        return strings
    }

    func date(_ key: String) throws(FieldProblem) -> Date? {
        guard let text = try string(key) else { return nil }
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return date }
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle()) { return date }
        throw FieldProblem(path(key), "'\(path(key))' must be an RFC 3339 time such as 2026-11-23T10:05:00Z, not '\(text)'")
    }
}

extension ProvisioningCommand {
    /// Whether a field named in `Operation.requiredFields` is present.
    func has(_ field: String) -> Bool {
        switch field {
        case "user": user != nil
        case "userId": userId != nil
        case "roles": roles != nil
        case "groups": groups != nil
        case "status": status != nil
        case "password": password != nil
        default: true
        }
    }
}
