import Foundation
import ProvisioningContract

// Aranda ASMS API v9 (docs/vendors.md "Aranda ASMS"): a bearer token from `POST /api/v9/authentication`
// in `X-Authorization`; keys matched in any case; errors `{"result":false,"status":...,"message":<code>}`.

/// ASMS's users by id, the next id, and live tokens.
struct ASMSStore: Sendable {
    /// Changed only through `set`, which keeps the look-up by user name current.
    private(set) var users: [Int: [String: JSONValue]] = [:]
    /// Lower-cased `userName` → id.
    private var idsByUserName: [String: Int] = [:]
    var nextId = 4848
    var tokens: Set<String> = []

    var storedUsers: [JSONValue] { users.keys.sorted().map { .object(users[$0]!) } }

    /// The id of the user with this user name, in any case.
    func id(userName: String) -> Int? { idsByUserName[userName.lowercased()] }

    mutating func set(_ id: Int, _ user: [String: JSONValue]) {
        if let old = users[id]?["userName"]?.stringValue?.lowercased(), idsByUserName[old] == id { idsByUserName[old] = nil }
        users[id] = user
        if let name = user["userName"]?.stringValue?.lowercased() { idsByUserName[name] = id }
    }
}

/// The ASMS routes, validation and error shapes.
enum ASMS {
    static let username = "asmsadmin"
    static let password = "asmspassword"
    static let projects: Set<Int> = [1, 2, 19]
    static let states: Set<Int> = [1, 2, 3]
    /// Project 2 requires additional field 7; 7 is the only additional field there is.
    static let requiredAdditionalFields: [Int: Int] = [2: 7]
    static let additionalFields: Set<Int> = [7]

    static let required = ["Active", "Name", "userName", "password", "projectId", "stateId", "listAdditionalField", "consoleType", "registerType"]
    static let optionalIntegers = [
        "birthDate", "buildingId", "cityId", "companyId", "countryId", "departmentCode", "departmentNumber", "documentNumber",
        "documentTypeId", "floorId", "jobId", "SiteId", "chiefId",
    ]
    static let optionalStrings = ["address1", "address2", "address3", "email", "Ext", "fax", "guidLDAP", "Mobil", "phone1", "phone2", "phone3"]
    /// Every field's spelling, by its lower-cased name.
    static let canonical: [String: String] = Dictionary(
        uniqueKeysWithValues: (required + optionalIntegers + optionalStrings).map { ($0.lowercased(), $0) }
    )
    static let consoleTypes = ["specialist": 1, "client": 2, "administrator": 3]
    static let registerTypes = ["client": 37, "specialist": 53]

    static func httpStatus(_ code: String) -> Int {
        switch code {
        case "FailureAddUser", "InternalServerError": 500
        case "UserNotFound", "NotFound": 404
        case "InvalidToken", "InvalidCredentials", "Unauthorized": 401
        default: 400
        }
    }

    static func statusName(_ status: Int) -> String {
        switch status {
        case 401: "Unauthorized"
        case 404: "NotFound"
        case 405: "MethodNotAllowed"
        case 500: "InternalServerError"
        default: "BadRequest"
        }
    }

    static func error(_ code: String, status: Int? = nil) -> SimResponse {
        let http = status ?? httpStatus(code)
        return .json(http, .object(["result": .bool(false), "status": .string(statusName(http)), "message": .string(code)]))
    }

    static func queuedError(_ code: String) -> SimResponse { error(code) }

    /// The body's keys in their canonical spelling (unknown keys dropped, as .NET model binding does).
    static func normalized(_ body: [String: JSONValue]) -> [String: JSONValue] {
        var result: [String: JSONValue] = [:]
        for (key, value) in body {
            if let name = canonical[key.lowercased()] { result[name] = value }
        }
        return result
    }

    static func value(_ object: [String: JSONValue], _ name: String) -> JSONValue? {
        object.first { $0.key.lowercased() == name.lowercased() }?.value
    }

    static func isTokenCall(_ request: SimRequest) -> Bool {
        request.segments.map { $0.lowercased() } == ["api", "v9", "authentication"]
    }

    /// `POST /api/v9/authentication` → `{token, renewToken}`, or 401 InvalidCredentials.
    static func createToken(_ request: SimRequest, state: inout SimulatorState) -> SimResponse {
        guard request.method == "POST" else { return error("MethodNotAllowed", status: 405) }
        guard let body = request.jsonObject else { return error("BadRequest") }
        guard value(body, "userName")?.stringValue == username, value(body, "password")?.stringValue == password else {
            return error("InvalidCredentials")
        }
        let token = randomToken("asms-")
        state.asms.tokens.insert(token)
        let renewToken = randomToken("asms-renew-")
        state.countToken(.asms, token, renewToken)
        return .json(200, .object(["token": .string(token), "renewToken": .string(renewToken)]))
    }

    static func handle(_ request: SimRequest, state: inout SimulatorState) -> SimResponse {
        let header = request.header("x-authorization") ?? ""
        let token = header.lowercased().hasPrefix("bearer ") ? String(header.dropFirst(7)).trimmingCharacters(in: .whitespaces) : ""
        guard !token.isEmpty, state.asms.tokens.contains(token) else { return error("InvalidToken") }
        let path = request.segments.map { $0.lowercased() }
        guard path.count >= 3, path.count <= 4, path[0] == "api", path[1] == "v9", path[2] == "user" else { return error("NotFound", status: 404) }
        if path.count == 3 {
            switch request.method {
            case "POST": return create(request, store: &state.asms)
            case "GET": return read(request, store: state.asms)
            default: return error("MethodNotAllowed", status: 405)
            }
        }
        guard request.method == "PUT" else { return error("MethodNotAllowed", status: 405) }
        guard let id = Int(request.segments[3]) else { return error("UserNotFound") }
        return update(id, request, store: &state.asms)
    }

    /// The user as `GET` shows it: no password.
    static func visible(_ user: [String: JSONValue]) -> JSONValue {
        var shown = user
        shown["password"] = nil
        return .object(shown)
    }

    static func read(_ request: SimRequest, store: ASMSStore) -> SimResponse {
        let query = Dictionary(request.query.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { first, _ in first })
        if let text = query["id"] {
            guard let id = Int(text) else { return error("BadRequest") }
            guard let user = store.users[id] else { return error("UserNotFound") }
            return .json(200, visible(user))
        }
        if let name = query["username"] {
            guard let user = store.id(userName: name).flatMap({ store.users[$0] }) else {
                return error("UserNotFound")
            }
            return .json(200, visible(user))
        }
        return error("BadRequest")
    }

    /// Validates a create or replace body; the record to store, or the error code.
    static func validated(_ raw: [String: JSONValue], passwordRequired: Bool) -> Result<[String: JSONValue], SimResponseError> {
        func fail(_ code: String) -> Result<[String: JSONValue], SimResponseError> { .failure(SimResponseError(error(code))) }
        var body = normalized(raw).filter { $0.value != .null }
        for name in required where body[name] == nil {
            if name == "password" && !passwordRequired { continue }
            return fail("BadRequest")
        }
        // Active: 1/0 (a boolean is taken too).
        switch body["Active"] {
        case .bool(let flag)?: body["Active"] = .integer(flag ? 1 : 0)
        case let value? where value.intValue == 0 || value.intValue == 1: body["Active"] = .integer(Int64(value.intValue!))
        default: return fail("BadRequest")
        }
        for name in ["Name", "userName", "password"] {
            guard let value = body[name] else { continue }
            guard let text = value.stringValue, !text.trimmingCharacters(in: .whitespaces).isEmpty else { return fail("BadRequest") }
        }
        guard let console = number(body["consoleType"], names: consoleTypes), Set(consoleTypes.values).contains(console) else { return fail("InvalidConsole") }
        body["consoleType"] = .integer(Int64(console))
        guard let register = number(body["registerType"], names: registerTypes), Set(registerTypes.values).contains(register) else {
            return fail("InvalidRegisterType")
        }
        body["registerType"] = .integer(Int64(register))
        guard let project = body["projectId"]?.intValue, projects.contains(project) else { return fail("InvalidProjectId") }
        guard let state = body["stateId"]?.intValue, states.contains(state) else { return fail("InvalidStateId") }
        body["projectId"] = .integer(Int64(project))
        body["stateId"] = .integer(Int64(state))
        guard let fields = body["listAdditionalField"]?.arrayValue else { return fail("BadRequest") }
        var given: Set<Int> = []
        for field in fields {
            guard let object = field.objectValue, let id = value(object, "id")?.intValue, additionalFields.contains(id) else {
                return fail("InvalidAdditionalFieldValue")
            }
            switch value(object, "value") {
            case .string(let text)? where !text.isEmpty: break
            case .integer?, .number?, .bool?: break
            default: return fail("InvalidAdditionalFieldValue")
            }
            given.insert(id)
        }
        if let needed = requiredAdditionalFields[project], !given.contains(needed) { return fail("AdditionalFieldIsRequired") }
        for name in optionalIntegers {
            guard let value = body[name] else { continue }
            guard let number = value.intValue else { return fail("BadRequest") }
            body[name] = .integer(Int64(number))
        }
        for name in optionalStrings where body[name] != nil && body[name]?.stringValue == nil { return fail("BadRequest") }
        return .success(body)
    }

    /// A console or register type: its number, or its name in any case.
    static func number(_ value: JSONValue?, names: [String: Int]) -> Int? {
        switch value {
        case .string(let text)?: names[text.lowercased()] ?? Int(text)
        case let value?: value.intValue
        default: nil
        }
    }

    static func create(_ request: SimRequest, store: inout ASMSStore) -> SimResponse {
        guard let raw = request.jsonObject else { return error("BadRequest") }
        var user: [String: JSONValue]
        switch validated(raw, passwordRequired: true) {
        case .success(let value): user = value
        case .failure(let failure): return failure.response
        }
        let name = user["userName"]!.stringValue!.lowercased()
        if store.id(userName: name) != nil { return error("UserAlreadyExists") }
        let id = store.nextId
        store.nextId += 1
        user["id"] = .integer(Int64(id))
        store.set(id, user)
        return .json(200, .object(["id": .integer(Int64(id)), "result": .bool(true)]), topLevelOrder: ["id", "result"])
    }

    /// Replaces the record with the fields sent; the password is kept when none is sent.
    static func update(_ id: Int, _ request: SimRequest, store: inout ASMSStore) -> SimResponse {
        guard let existing = store.users[id] else { return error("UserNotFound") }
        guard let raw = request.jsonObject else { return error("BadRequest") }
        var user: [String: JSONValue]
        switch validated(raw, passwordRequired: false) {
        case .success(let value): user = value
        case .failure(let failure): return failure.response
        }
        let name = user["userName"]!.stringValue!.lowercased()
        if let owner = store.id(userName: name), owner != id {
            return error("UserAlreadyExists")
        }
        if user["password"] == nil { user["password"] = existing["password"] }
        user["id"] = .integer(Int64(id))
        store.set(id, user)
        return .json(200, .object(["id": .integer(Int64(id)), "result": .bool(true)]), topLevelOrder: ["id", "result"])
    }
}
