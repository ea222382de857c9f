import Foundation
import ProvisioningContract

// SOAJS URAC (docs/vendors.md "SOAJS URAC"): `key` header and `access_token` query on every call,
// the soajs envelope `{"result":true,"data":...}` / `{"result":false,"errors":{...}}`, errors with
// HTTP 200 (soajs 2.x) or 500 (3.x) except the gateway's 132 (403) and 158 (401).

/// One URAC user as stored (password included).
struct URACUser: Sendable {
    var id: String
    var username: String
    var firstName: String
    var lastName: String
    var email: String
    var status: String
    var groups: [String]
    var profile: [String: JSONValue]
    var config: [String: JSONValue]
    var password: String?
    var pin: JSONValue?
    var tenantId: String
    var tenantCode: String
    var token: String
}

/// URAC's users, in creation order, and the ids marked locked.
struct URACStore: Sendable {
    /// In creation order (`listUsers` answers in it); changed only through the methods below,
    /// which keep the look-ups current: a burst of creates must not cost a scan each.
    private(set) var users: [URACUser] = []
    var locked: Set<String> = []
    private var positions: [String: Int] = [:]
    private var idsByUsername: [String: String] = [:]
    private var idsByEmail: [String: String] = [:]

    func index(of id: String) -> Int? { positions[id] }

    /// The id of the user with this user name (exact) or email (any case), if any.
    func id(username: String) -> String? { idsByUsername[username] }
    func id(email: String) -> String? { idsByEmail[email.lowercased()] }

    mutating func append(_ user: URACUser) {
        positions[user.id] = users.count
        users.append(user)
        index(user)
    }

    mutating func replace(at index: Int, with user: URACUser) {
        unindex(users[index])
        users[index] = user
        self.index(user)
    }

    mutating func setStatus(at index: Int, _ status: String) { users[index].status = status }

    mutating func remove(at index: Int) {
        unindex(users[index])
        users.remove(at: index)
        positions = Dictionary(uniqueKeysWithValues: users.enumerated().map { ($1.id, $0) })
    }

    private mutating func index(_ user: URACUser) {
        idsByUsername[user.username] = user.id
        idsByEmail[user.email.lowercased()] = user.id
    }

    private mutating func unindex(_ user: URACUser) {
        if idsByUsername[user.username] == user.id { idsByUsername[user.username] = nil }
        if idsByEmail[user.email.lowercased()] == user.id { idsByEmail[user.email.lowercased()] = nil }
    }

    var storedUsers: [JSONValue] {
        users.map { user in
            var object = URAC.visible(user).objectValue ?? [:]
            object["password"] = user.password.map(JSONValue.string) ?? .null
            object["pin"] = user.pin ?? .null
            object["token"] = .string(user.token)
            object["locked"] = .bool(locked.contains(user.id))
            return .object(object)
        }
    }
}

/// The URAC routes, validation and error shapes.
enum URAC {
    static let key = "urac-simulator-key"
    static let accessToken = "urac-simulator-token"
    static let tenantId = "5551aca9e179c39b760f7a1a"
    static let tenantCode = "DBTN"
    static let groups: Set<String> = ["owner", "administrator", "manager", "waiter", "guest"]

    static func message(_ code: Int, addUser: Bool = false) -> String {
        switch code {
        case 132: "A valid key is needed to access any API."
        case 151: "You are trying to reach an unknown rest service!"
        case 158: "Login needed to access this API."
        case 172: "Missing required field"
        case 173: "Validation failed for field"
        case 399: "Missing Service config. Contact system Admin"
        case 400: "Database connection error"
        case 401: "Unable to log in the user. User not found."
        case 402: "User account already exists."
        case 403: addUser ? "Unable to register user. please try again." : "User Not Found!"
        case 405: "Unable to find User. Please try again."
        case 406: "Invalid or token has expired."
        case 407: "Problem validating Request. Please try again."
        case 408: "The password and its confirmation do not match"
        case 409: "Invalid old password provided"
        case 410: "username taken, please choose another username"
        case 411: "invalid user id provided"
        case 412: "A user with the same email already exists"
        case 413: addUser ? "Invalid profile field provided. Profile should be a stringified object." : "Problem with the provided password or profile."
        case 414: "Unable to add user."
        case 415: "Unable to find group."
        case 424: "A pending new user cannot have a password, and an active or inactive user needs one."
        case 500: "This record is locked. You cannot modify or delete it"
        case 611: "invalid tenant id provided"
        default: "Error \(code)"
        }
    }

    /// The error envelope; `status` is the configured error status except for the gateway's 132 and 158.
    static func error(_ code: Int, _ message: String? = nil, status: Int, addUser: Bool = false) -> SimResponse {
        let http = code == 132 ? 403 : code == 158 ? 401 : status
        let detail: JSONValue = .object(["code": .integer(Int64(code)), "message": .string(message ?? Self.message(code, addUser: addUser))])
        return .json(http, .object(["result": .bool(false), "errors": .object(["codes": .array([.integer(Int64(code))]), "details": .array([detail])])]))
    }

    static func ok(_ data: JSONValue) -> SimResponse {
        .json(200, .object(["result": .bool(true), "data": data]))
    }

    static func queuedError(_ code: String, request: SimRequest, status: Int) -> SimResponse {
        error(Int(code) ?? 400, status: status, addUser: request.segments.last == "addUser")
    }

    /// The id of a user: 24 hex digits from FNV-1a 64 of the tenant id and the user name, so the
    /// same name gets the same id after a reset.
    static func id(tenant: String, username: String) -> String {
        hex(fnv1a64("\(tenant)/\(username)"), digits: 16) + hex(fnv1a64("\(username)@\(tenant)"), digits: 8)
    }

    static func isObjectId(_ text: String) -> Bool {
        text.count == 24 && text.allSatisfy { $0.isHexDigit }
    }

    /// The user as `getUser` shows it: never the password.
    static func visible(_ user: URACUser) -> JSONValue {
        .object([
            "_id": .string(user.id), "username": .string(user.username), "firstName": .string(user.firstName),
            "lastName": .string(user.lastName), "email": .string(user.email), "status": .string(user.status),
            "groups": .array(user.groups.map(JSONValue.string)), "profile": .object(user.profile), "config": .object(user.config),
            "tenant": .object(["id": .string(user.tenantId), "code": .string(user.tenantCode)]),
        ])
    }

    static func validEmail(_ email: String) -> Bool {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && parts[1].contains(".") && !parts[1].hasPrefix(".")
            && !parts[1].hasSuffix(".") && !email.contains(" ")
    }

    static func validUsername(_ name: String) -> Bool {
        !name.isEmpty && name.unicodeScalars.allSatisfy { ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "_" || $0 == "-" }
    }

    /// The body as an object: JSON, or a form (`username=john&...`).
    static func body(_ request: SimRequest) -> [String: JSONValue]? {
        if request.isBodyEmpty { return [:] }
        if request.contentType.contains("application/x-www-form-urlencoded") || (request.json == nil && !request.contentType.contains("json")) {
            guard let text = String(bytes: request.body, encoding: .utf8) else { return nil }
            return FormDecoding.object(text, arrayNames: ["groups"])
        }
        return request.jsonObject
    }

    static func handle(_ request: SimRequest, state: inout SimulatorState) -> SimResponse {
        let status = state.uracErrorStatus
        guard request.header("key") == key else { return error(132, status: status) }
        guard request.query["access_token"] == accessToken else { return error(158, status: status) }
        let route = (request.method, request.segments.joined(separator: "/"))
        switch route {
        case ("POST", "admin/addUser"): return addUser(request, store: &state.urac, status: status)
        case ("GET", "admin/getUser"): return getUser(request, store: state.urac, status: status)
        case ("POST", "admin/editUser"): return editUser(request, store: &state.urac, status: status)
        case ("GET", "admin/changeUserStatus"): return changeStatus(request, store: &state.urac, status: status)
        case ("DELETE", "admin/user/delete"): return delete(request, store: &state.urac, status: status)
        case ("GET", "admin/listUsers"): return listUsers(request, store: state.urac, status: status)
        default: return error(151, status: 404)
        }
    }

    // MARK: - Field checks

    /// Required string fields: 172 when missing or empty, 173 when not a string.
    static func requiredStrings(_ names: [String], in body: [String: JSONValue], status: Int) -> Result<[String: String], SimResponseError> {
        var values: [String: String] = [:]
        for name in names {
            switch body[name] {
            case nil, .null?: return .failure(SimResponseError(error(172, "Missing required field: \(name)", status: status)))
            case .string(let text)?:
                if text.isEmpty { return .failure(SimResponseError(error(172, "Missing required field: \(name)", status: status))) }
                values[name] = text
            default: return .failure(SimResponseError(error(173, "Validation failed for field: \(name)", status: status)))
            }
        }
        return .success(values)
    }

    static func invalid(_ name: String, status: Int) -> SimResponseError {
        SimResponseError(error(173, "Validation failed for field: \(name)", status: status))
    }

    static func optionalString(_ name: String, in body: [String: JSONValue], status: Int) -> Result<String?, SimResponseError> {
        switch body[name] {
        case nil, .null?: .success(nil)
        case .string(let text)?: .success(text)
        default: .failure(invalid(name, status: status))
        }
    }

    /// Groups: a list of known group codes (173 when not a list of strings, 415 when unknown).
    static func checkGroups(_ value: JSONValue?, status: Int) -> Result<[String]?, SimResponseError> {
        switch value {
        case nil, .null?: return .success(nil)
        case .array(let items)?:
            var groups: [String] = []
            for item in items {
                guard let code = item.stringValue else { return .failure(invalid("groups", status: status)) }
                guard URAC.groups.contains(code) else { return .failure(SimResponseError(error(415, status: status))) }
                if !groups.contains(code) { groups.append(code) }
            }
            return .success(groups)
        case .string(let code)?:
            // A form post names one group as a plain value.
            guard URAC.groups.contains(code) else { return .failure(SimResponseError(error(415, status: status))) }
            return .success([code])
        default: return .failure(invalid("groups", status: status))
        }
    }

    /// The user named by `uId`: 172 missing, 411 malformed, 405 unknown.
    static func user(_ request: SimRequest, store: URACStore, status: Int) -> Result<Int, SimResponseError> {
        guard let id = request.query["uId"], !id.isEmpty else {
            return .failure(SimResponseError(error(172, "Missing required field: uId", status: status)))
        }
        guard isObjectId(id) else { return .failure(SimResponseError(error(411, status: status))) }
        guard let index = store.index(of: id) else { return .failure(SimResponseError(error(405, status: status))) }
        return .success(index)
    }

    // MARK: - Routes

    static func addUser(_ request: SimRequest, store: inout URACStore, status: Int) -> SimResponse {
        guard let body = body(request) else { return error(407, status: status) }
        // Tenant: query or body.
        let tenantId = request.query["tId"] ?? body["tId"]?.stringValue
        let tenantCode = request.query["tCode"] ?? body["tCode"]?.stringValue
        guard let tenantId, !tenantId.isEmpty else { return error(172, "Missing required field: tId", status: status) }
        guard let tenantCode, !tenantCode.isEmpty else { return error(172, "Missing required field: tCode", status: status) }
        guard tenantId == URAC.tenantId, tenantCode == URAC.tenantCode else { return error(611, status: status) }

        let fields: [String: String]
        switch requiredStrings(["username", "firstName", "lastName", "email"], in: body, status: status) {
        case .success(let value): fields = value
        case .failure(let failure): return failure.response
        }
        guard validUsername(fields["username"]!) else { return invalid("username", status: status).response }
        guard validEmail(fields["email"]!) else { return invalid("email", status: status).response }

        // profile: a stringified object.
        var profile: [String: JSONValue] = [:]
        switch body["profile"] {
        case nil, .null?: break
        case .string(let text)?:
            guard let parsed = try? JSONParser.parse(Array(text.utf8)), let object = parsed.objectValue else {
                return error(413, status: status, addUser: true)
            }
            profile = object
        default: return error(413, status: status, addUser: true)
        }

        let groups: [String]
        switch checkGroups(body["groups"], status: status) {
        case .success(let value): groups = value ?? []
        case .failure(let failure): return failure.response
        }

        let password: String?
        let confirmation: String?
        let requestedStatus: String?
        switch (
            optionalString("password", in: body, status: status), optionalString("confirmation", in: body, status: status),
            optionalString("status", in: body, status: status)
        ) {
        case (.success(let p), .success(let c), .success(let s)): (password, confirmation, requestedStatus) = (p.flatMap { $0.isEmpty ? nil : $0 }, c, s)
        case (.failure(let failure), _, _), (_, .failure(let failure), _), (_, _, .failure(let failure)): return failure.response
        }
        if let requestedStatus, !["active", "inactive", "pendingNew"].contains(requestedStatus) { return invalid("status", status: status).response }
        if let password, confirmation != password { return error(408, status: status) }
        let userStatus = requestedStatus ?? (password == nil ? "pendingNew" : "active")
        if (userStatus == "pendingNew") != (password == nil) { return error(424, status: status) }

        var pin: JSONValue?
        switch body["pin"] {
        case nil, .null?: break
        case .object(let object)?:
            guard object["code"]?.stringValue != nil, object["allowed"]?.boolValue != nil || object["allowed"]?.stringValue.flatMap(Bool.init) != nil else {
                return invalid("pin", status: status).response
            }
            pin = .object(object)
        default: return invalid("pin", status: status).response
        }

        let username = fields["username"]!
        let email = fields["email"]!
        if store.id(username: username) != nil || store.id(email: email) != nil {
            return error(402, status: status)
        }
        let user = URACUser(
            id: id(tenant: tenantId, username: username), username: username, firstName: fields["firstName"]!,
            lastName: fields["lastName"]!, email: email, status: userStatus, groups: groups, profile: profile, config: [:],
            password: password, pin: pin, tenantId: tenantId, tenantCode: tenantCode, token: UUID().uuidString.lowercased()
        )
        // Two names with the same FNV digest would collide; a simulator can refuse that rare case.
        if store.index(of: user.id) != nil { return error(414, status: status) }
        store.append(user)
        return ok(.object(["id": .string(user.id), "token": .string(user.token)]))
    }

    static func getUser(_ request: SimRequest, store: URACStore, status: Int) -> SimResponse {
        switch user(request, store: store, status: status) {
        case .success(let index): ok(visible(store.users[index]))
        case .failure(let failure): failure.response
        }
    }

    static func editUser(_ request: SimRequest, store: inout URACStore, status: Int) -> SimResponse {
        let index: Int
        switch user(request, store: store, status: status) {
        case .success(let value): index = value
        case .failure(let failure): return failure.response
        }
        guard let body = body(request) else { return error(407, status: status) }
        let fields: [String: String]
        switch requiredStrings(["username", "firstName", "lastName", "email", "status"], in: body, status: status) {
        case .success(let value): fields = value
        case .failure(let failure): return failure.response
        }
        guard validUsername(fields["username"]!) else { return invalid("username", status: status).response }
        guard validEmail(fields["email"]!) else { return invalid("email", status: status).response }
        guard ["active", "inactive"].contains(fields["status"]!) else { return invalid("status", status: status).response }
        let id = store.users[index].id
        if store.locked.contains(id) { return error(500, status: status) }

        let groups: [String]
        switch checkGroups(body["groups"], status: status) {
        case .success(let value): groups = value ?? []  // left out: cleared, as URAC does
        case .failure(let failure): return failure.response
        }
        var profile = store.users[index].profile
        switch body["profile"] {
        case nil, .null?: break
        case .object(let object)?: profile = object
        default: return error(413, status: status)
        }
        var config = store.users[index].config
        switch body["config"] {
        case nil, .null?: break
        case .object(let object)?: config = object
        default: return invalid("config", status: status).response
        }
        let password: String?
        let confirmation: String?
        switch (optionalString("password", in: body, status: status), optionalString("confirmation", in: body, status: status)) {
        case (.success(let p), .success(let c)): (password, confirmation) = (p.flatMap { $0.isEmpty ? nil : $0 }, c)
        case (.failure(let failure), _), (_, .failure(let failure)): return failure.response
        }
        if let password, confirmation != password { return error(408, status: status) }
        var pin = store.users[index].pin
        switch body["pin"] {
        case nil, .null?: break
        case .object(let object)?:
            for key in ["code", "allowed"] where object[key] != nil && object[key]?.boolValue == nil {
                return invalid("pin", status: status).response
            }
            var stored = pin?.objectValue ?? [:]
            if object["code"]?.boolValue == true { stored["code"] = .string(String(format: "%04d", Int.random(in: 0...9999))) }
            if let allowed = object["allowed"]?.boolValue { stored["allowed"] = .bool(allowed) }
            pin = .object(stored)
        default: return invalid("pin", status: status).response
        }

        let username = fields["username"]!
        let email = fields["email"]!
        if let owner = store.id(username: username), owner != id { return error(410, status: status) }
        if let owner = store.id(email: email), owner != id { return error(412, status: status) }

        var user = store.users[index]
        user.username = username
        user.firstName = fields["firstName"]!
        user.lastName = fields["lastName"]!
        user.email = email
        user.status = fields["status"]!
        user.groups = groups
        user.profile = profile
        user.config = config
        user.pin = pin
        if let password { user.password = password }
        store.replace(at: index, with: user)
        return ok(.bool(true))
    }

    static func changeStatus(_ request: SimRequest, store: inout URACStore, status: Int) -> SimResponse {
        let index: Int
        switch user(request, store: store, status: status) {
        case .success(let value): index = value
        case .failure(let failure): return failure.response
        }
        guard let newStatus = request.query["status"], !newStatus.isEmpty else { return error(172, "Missing required field: status", status: status) }
        guard ["active", "inactive"].contains(newStatus) else { return invalid("status", status: status).response }
        if store.locked.contains(store.users[index].id) { return error(500, status: status) }
        store.setStatus(at: index, newStatus)
        return ok(.bool(true))
    }

    static func delete(_ request: SimRequest, store: inout URACStore, status: Int) -> SimResponse {
        let index: Int
        switch user(request, store: store, status: status) {
        case .success(let value): index = value
        case .failure(let failure): return failure.response
        }
        if store.locked.contains(store.users[index].id) { return error(500, status: status) }
        store.remove(at: index)
        return ok(.bool(true))
    }

    /// `keywords` matches user name, email, first or last name (any case, part of the value).
    static func listUsers(_ request: SimRequest, store: URACStore, status: Int) -> SimResponse {
        if let tenant = request.query["tId"], !tenant.isEmpty, tenant != tenantId { return error(611, status: status) }
        let keywords = (request.query["keywords"] ?? "").lowercased()
        let users = store.users.filter { user in
            keywords.isEmpty || [user.username, user.email, user.firstName, user.lastName].contains { $0.lowercased().contains(keywords) }
        }
        return ok(.array(users.map(visible)))
    }
}
