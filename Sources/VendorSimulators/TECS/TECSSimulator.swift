import Foundation
import ProvisioningContract

// TECS User Management back office (docs/vendors.md "TECS"): HTTP Basic, every call a JSON POST,
// every answer `{"responseCode":0,"responseMessage":"OK",...}` with HTTP 200; errors are non-zero codes.

/// One registered consumer.
struct TECSUser: Sendable {
    var consumerId: String
    /// The registerUser fields as sent (strings).
    var fields: [String: String]
    var active: Bool = true
    var roles: [TECSRole] = []

    var email: String { fields["email"] ?? "" }
    var login: String? { fields["login"] }
}

struct TECSRole: Sendable, Hashable {
    var corporateUUID: String?
    var userRoleName: String?

    var json: JSONValue {
        .object(["corporateUUID": corporateUUID.map(JSONValue.string) ?? .null, "userRoleName": userRoleName.map(JSONValue.string) ?? .null])
    }
}

/// TECS's users, in registration order, indexed by consumer id, login and email (in any case)
/// so that tens of thousands of users cost no more per call than ten.
struct TECSStore: Sendable {
    var users: [TECSUser] = []
    private var byConsumerId: [String: Int] = [:]
    private var byLogin: [String: Int] = [:]
    private var byEmail: [String: Int] = [:]

    func index(of consumerId: String) -> Int? { byConsumerId[consumerId] }

    func index(ofEmail email: String) -> Int? { byEmail[email.lowercased()] }

    /// Whether a consumer other than `except` has this email (any case) or login (as id or login).
    func isTaken(email: String?, login: String?, except: Int? = nil) -> Bool {
        let owners = [email.flatMap { byEmail[$0.lowercased()] }, login.flatMap { byLogin[$0] }, login.flatMap { byConsumerId[$0] }]
        return owners.contains { $0 != nil && $0 != except }
    }

    mutating func add(_ user: TECSUser) {
        byConsumerId[user.consumerId] = users.count
        if let login = user.login { byLogin[login] = users.count }
        byEmail[user.email.lowercased()] = users.count
        users.append(user)
    }

    mutating func update(_ index: Int, fields: [String: String]) {
        byEmail[users[index].email.lowercased()] = nil
        users[index].fields.merge(fields) { _, new in new }
        byEmail[users[index].email.lowercased()] = index
    }

    var storedUsers: [JSONValue] { users.map { TECS.stored($0) } }
}

/// The TECS routes, validation and error shapes.
enum TECS {
    static let username = "User1"
    static let password = "Password1"

    /// The fields `registerUser` takes (all strings).
    static let registerFields: Set<String> = [
        "city", "country", "dateOfBirth", "driverLicenceNumber", "email", "firstName", "identificationNumber",
        "lastName", "login", "passportNumber", "phone", "salutation", "state", "street1", "street2", "zip",
    ]
    /// What `/listOfUsers` shows of a user, in this order (identity documents are not listed).
    static let listedFields = [
        "login", "email", "firstName", "lastName", "salutation", "dateOfBirth", "phone", "street1", "street2", "zip",
        "city", "state", "country",
    ]

    /// The seed's error table.
    static func message(_ code: Int) -> String {
        switch code {
        case 0: "OK"
        case 24000: "You don't have permissions (state User_HasNotRole)"
        case 24001: "You don't have permissions (state Mandator_IsNotTheSame)"
        case 24012: "Mandatory fields are not filled (state MandatoryFields_AreNotFilled)"
        case 24014: "Unexpected exception (state Unexpected_Exception)"
        case 24029: "terminalid (must be present, in correct format)"
        case 24030: "reason_deactivation (must be present, in correct format)"
        case 25000: "INTERNAL_SERVER_ERROR"
        case 25001: "OAUTH_INTERACTION_FAILED"
        case 25002: "OAUTH_INVALID_TOKEN"
        case 25003: "UNAUTHORIZED"
        case 25004: "BAD_REQUEST"
        case 25005: "USER_INACTIVE"
        case 25007: "TECS_TERM_NOT_FOUND"
        case 25008: "MANDATOR_NOT_FOUND"
        case 25012: "DATA_INTEGRITY_ERROR"
        case 25013: "DATA_ACCESS_ERROR"
        default: "ERROR"
        }
    }

    static func error(_ code: Int, _ message: String? = nil, status: Int = 200) -> SimResponse {
        .json(status, .object(["responseCode": .integer(Int64(code)), "responseMessage": .string(message ?? Self.message(code))]))
    }

    static func ok(_ extra: [String: JSONValue] = [:]) -> SimResponse {
        var body = extra
        body["responseCode"] = .integer(0)
        body["responseMessage"] = .string("OK")
        return .json(200, .object(body))
    }

    static func mandatory(_ names: [String]) -> SimResponse {
        error(24012, "Mandatory fields are not filled \(names.joined(separator: ", "))")
    }

    static func badRequest(_ detail: String) -> SimResponse { error(25004, "BAD_REQUEST: \(detail)") }

    static func notFound(_ consumer: String) -> SimResponse { badRequest("consumer '\(consumer)' not found") }

    /// A queued error (`/_sim/errors`): HTTP 200 with the code and the seed's message.
    static func queuedError(_ code: String) -> SimResponse {
        let number = Int(code) ?? 25000
        return error(number)
    }

    static func stored(_ user: TECSUser) -> JSONValue {
        var object = user.fields.mapValues(JSONValue.string)
        object["consumerId"] = .string(user.consumerId)
        object["active"] = .bool(user.active)
        object["roles"] = .array(user.roles.map(\.json))
        return .object(object)
    }

    static func listed(_ user: TECSUser) -> JSONValue {
        var object: [String: JSONValue] = ["consumerId": .string(user.consumerId)]
        for field in listedFields { object[field] = user.fields[field].map(JSONValue.string) ?? .null }
        object["active"] = .bool(user.active)
        object["roles"] = .array(user.roles.map(\.json))
        return .object(object)
    }

    static func authorized(_ request: SimRequest) -> Bool {
        guard let header = request.header("authorization"), header.lowercased().hasPrefix("basic ") else { return false }
        let encoded = header.dropFirst(6).trimmingCharacters(in: .whitespaces)
        guard let data = Data(base64Encoded: encoded), let pair = String(data: data, encoding: .utf8) else { return false }
        return pair == "\(username):\(password)"
    }

    /// A business call (TECS has no token endpoint).
    static func handle(_ request: SimRequest, store: inout TECSStore) -> SimResponse {
        guard authorized(request) else { return error(25003, status: 401) }
        guard request.segments.count == 1 else { return error(25004, "BAD_REQUEST: no such endpoint", status: 404) }
        let operation = request.segments[0]
        let operations: Set = [
            "registerUser", "assignRoles", "removeRoles", "activateUser", "deactivateUser", "updateConsumer", "resetPassword", "listOfUsers",
        ]
        guard operations.contains(operation) else { return error(25004, "BAD_REQUEST: no such endpoint", status: 404) }
        guard request.method == "POST" else { return error(25004, "BAD_REQUEST: \(request.method) not supported", status: 405) }
        let body: [String: JSONValue]
        if request.isBodyEmpty && operation == "listOfUsers" {
            body = [:]
        } else if let object = request.jsonObject {
            body = object
        } else {
            return badRequest("the body is not a JSON object")
        }
        switch operation {
        case "registerUser": return register(body, store: &store)
        case "assignRoles": return roles(body, add: true, store: &store)
        case "removeRoles": return roles(body, add: false, store: &store)
        case "activateUser": return setActive(body, true, store: &store)
        case "deactivateUser": return setActive(body, false, store: &store)
        case "updateConsumer": return update(body, store: &store)
        case "resetPassword": return resetPassword(body, store: &store)
        default: return list(body, store: store)
        }
    }

    /// The registerUser fields of a body as strings, or the error for a field that is not one.
    static func profileFields(_ body: [String: JSONValue]) -> Result<[String: String], SimResponseError> {
        var fields: [String: String] = [:]
        for (key, value) in body where registerFields.contains(key) {
            switch value {
            case .null: continue
            case .string(let text): fields[key] = text
            default: return .failure(SimResponseError(badRequest("\(key) must be a string")))
            }
        }
        if let date = fields["dateOfBirth"], !date.isEmpty, !validDate(date) {
            return .failure(SimResponseError(badRequest("dateOfBirth must be dd.MM.yyyy")))
        }
        return .success(fields)
    }

    /// `dd.MM.yyyy`, a real calendar date.
    static func validDate(_ text: String) -> Bool {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 2, parts[1].count == 2, parts[2].count == 4,
            let day = Int(parts[0]), let month = Int(parts[1]), let year = Int(parts[2]),
            (1...12).contains(month), day >= 1
        else { return false }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
        return day <= days
    }

    static func register(_ body: [String: JSONValue], store: inout TECSStore) -> SimResponse {
        let fields: [String: String]
        switch profileFields(body) {
        case .success(let value): fields = value
        case .failure(let error): return error.response
        }
        guard let email = fields["email"], !email.trimmingCharacters(in: .whitespaces).isEmpty else { return mandatory(["email"]) }
        let login = fields["login"].flatMap { $0.isEmpty ? nil : $0 }
        if store.isTaken(email: email, login: login) { return error(25012) }
        let consumerId = login ?? UUID().uuidString.lowercased()
        store.add(TECSUser(consumerId: consumerId, fields: fields))
        return ok(["consumerId": .string(consumerId)])
    }

    /// The consumer named by `key`, or the error to answer.
    static func consumer(_ body: [String: JSONValue], key: String, store: TECSStore) -> Result<Int, SimResponseError> {
        guard let id = body[key]?.stringValue, !id.isEmpty else { return .failure(SimResponseError(mandatory([key]))) }
        guard let index = store.index(of: id) else { return .failure(SimResponseError(notFound(id))) }
        return .success(index)
    }

    static func roles(_ body: [String: JSONValue], add: Bool, store: inout TECSStore) -> SimResponse {
        let index: Int
        switch consumer(body, key: "consumerUUID", store: store) {
        case .success(let value): index = value
        case .failure(let error): return error.response
        }
        var roles: [TECSRole] = []
        switch body["roles"] {
        case nil, .null?: break
        case .array(let items)?:
            for item in items {
                guard let object = item.objectValue else { return badRequest("roles must be a list of {corporateUUID, userRoleName}") }
                let corporate = object["corporateUUID"]
                let name = object["userRoleName"]
                if let corporate, corporate != .null, corporate.stringValue == nil { return badRequest("corporateUUID must be a string") }
                if let name, name != .null, name.stringValue == nil { return badRequest("userRoleName must be a string") }
                roles.append(TECSRole(corporateUUID: corporate?.stringValue, userRoleName: name?.stringValue))
            }
        default: return badRequest("roles must be a list")
        }
        for role in roles {
            if add {
                if !store.users[index].roles.contains(role) { store.users[index].roles.append(role) }
            } else {
                store.users[index].roles.removeAll { $0 == role }
            }
        }
        return ok()
    }

    static func setActive(_ body: [String: JSONValue], _ active: Bool, store: inout TECSStore) -> SimResponse {
        switch consumer(body, key: "consumerUUID", store: store) {
        case .success(let index):
            store.users[index].active = active
            return ok()
        case .failure(let error): return error.response
        }
    }

    static func update(_ body: [String: JSONValue], store: inout TECSStore) -> SimResponse {
        let index: Int
        switch consumer(body, key: "consumerUuid", store: store) {
        case .success(let value): index = value
        case .failure(let error): return error.response
        }
        var fields: [String: String]
        switch profileFields(body) {
        case .success(let value): fields = value
        case .failure(let error): return error.response
        }
        // The login is the consumer's id: it cannot change here.
        fields["login"] = nil
        if let email = fields["email"] {
            if email.trimmingCharacters(in: .whitespaces).isEmpty { return mandatory(["email"]) }
            if store.isTaken(email: email, login: nil, except: index) { return error(25012) }
        }
        store.update(index, fields: fields)
        return ok()
    }

    static func resetPassword(_ body: [String: JSONValue], store: inout TECSStore) -> SimResponse {
        let missing = ["consumerUuid", "phoneNumber"].filter { (body[$0]?.stringValue ?? "").isEmpty }
        if !missing.isEmpty { return mandatory(missing) }
        let index: Int
        switch consumer(body, key: "consumerUuid", store: store) {
        case .success(let value): index = value
        case .failure(let error): return error.response
        }
        let user = store.users[index]
        guard user.active else { return error(25005) }
        guard let phone = user.fields["phone"], phone == body["phoneNumber"]?.stringValue else {
            return badRequest("phoneNumber does not match the consumer's phone")
        }
        return ok()
    }

    /// Filters by any string field sent (`consumerUUID`, `email` (any case), `login`, ...); no filter lists everyone.
    static func list(_ body: [String: JSONValue], store: TECSStore) -> SimResponse {
        var filters: [String: String] = [:]
        for (key, value) in body {
            guard let text = value.stringValue, !text.isEmpty else { continue }
            filters[key == "consumerUuid" ? "consumerUUID" : key] = text
        }
        // The usual look-ups by id or email use the indices; other filters scan.
        let candidates: [TECSUser] =
            if let id = filters["consumerUUID"] ?? filters["consumerId"] {
                store.index(of: id).map { [store.users[$0]] } ?? []
            } else if let email = filters["email"] {
                store.index(ofEmail: email).map { [store.users[$0]] } ?? []
            } else {
                store.users
            }
        let users = candidates.filter { user in
            filters.allSatisfy { key, value in
                switch key {
                case "consumerUUID", "consumerId": user.consumerId == value
                case "email": user.email.lowercased() == value.lowercased()
                default: registerFields.contains(key) ? user.fields[key] == value : true
                }
            }
        }
        return ok(["users": .array(users.map(listed))])
    }
}

/// An early answer carried through `Result` by validation helpers.
struct SimResponseError: Error, Sendable {
    var response: SimResponse
    init(_ response: SimResponse) { self.response = response }
}
