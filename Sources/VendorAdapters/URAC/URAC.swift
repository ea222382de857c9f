import Foundation
import Provisioning
import ProvisioningContract

/// SOAJS URAC (seeds 001 and 003): tenant-scoped, a `key` header and an `access_token` query,
/// `{result, data | errors}` envelopes. `editUser` replaces the record (left-out groups are
/// cleared), so every change to an existing user is read-modify-write.
public struct URACAdapter: VendorAdapter {
    public let kind = VendorKind.urac
    let http: VendorHTTPClient

    public init(http: VendorHTTPClient) {
        self.http = http
    }

    public func plan(_ command: ProvisioningCommand, for target: ProvisioningTarget) -> Result<JSONValue, AdapterFailure> {
        planning { () throws(AdapterFailure) in
            switch command.operation {
            case .createUser:
                return try addUser(command, target).planned(base: target.baseURL, querySecrets: ["access_token"])
            case .getUser, .deleteUser:
                return try simpleRequest(command, target).planned(base: target.baseURL, querySecrets: ["access_token"])
            default:
                // What the command lays over the stored user; the worker reads the user first.
                let userId = try requireUserId(command)
                var plannedEdit = request(.POST, "/admin/editUser", query: [("uId", userId)], target: target)
                plannedEdit.body = .object(try changes(command))
                guard case .object(var shown) = plannedEdit.planned(base: target.baseURL, querySecrets: ["access_token"]) else { return .null }
                shown["mergedWith"] = request(.GET, "/admin/getUser", query: [("uId", userId)], target: target).planned(
                    base: target.baseURL, querySecrets: ["access_token"])
                return .object(shown)
            }
        }
    }

    public func perform(_ command: ProvisioningCommand, for target: ProvisioningTarget) async -> AdapterOutcome {
        await outcome { () async throws(AdapterFailure) in
            switch command.operation {
            case .createUser:
                return try await create(command, target: target)
            case .getUser:
                let (response, data) = try await call(try simpleRequest(command, target), command: command, target: target)
                guard let stored = data.objectValue else {
                    throw AdapterFailure(.vendorError, message: "getUser answered without a user", after: response.http)
                }
                return .succeeded(vendorUserId: command.userId, data: .object(["user": canonicalJSON(Self.canonical(stored))]), vendorResponse: response.vendor)
            case .deleteUser:
                let (response, _) = try await call(try simpleRequest(command, target), command: command, target: target)
                return .succeeded(vendorUserId: command.userId, data: nil, vendorResponse: response.vendor)
            default:
                return try await edit(command, target: target)
            }
        }
    }

    /// `addUser`; a duplicate (402) whose stored twin matches the command is a redelivery.
    private func create(_ command: ProvisioningCommand, target: ProvisioningTarget) async throws(AdapterFailure) -> AdapterOutcome {
        do {
            let (response, data) = try await call(try addUser(command, target), command: command, target: target)
            return .succeeded(vendorUserId: data["id"]?.textValue, data: nil, vendorResponse: response.vendor)
        } catch let failure where failure.error.code == "402" {
            let user = try requireUser(command)
            guard let username = user.userName else { throw failure }
            let query = [("tId", target.tenant["id"] ?? ""), ("tCode", target.tenant["code"] ?? ""), ("keywords", username)]
            let (listed, data) = try await call(request(.GET, "/admin/listUsers", query: query, target: target), command: command, target: target)
            let twin = (data.arrayValue ?? []).compactMap(\.objectValue).first { stored in
                matches(username, stored["username"]?.stringValue) && matches(user.email, stored["email"]?.stringValue)
                    && matches(user.givenName, stored["firstName"]?.stringValue) && matches(user.familyName, stored["lastName"]?.stringValue)
            }
            guard let twin, let id = twin["_id"]?.textValue ?? twin["id"]?.textValue else { throw failure }
            return .succeeded(vendorUserId: id, data: .object(["alreadyExisted": .bool(true)]), vendorResponse: listed.vendor)
        }
    }

    /// getUser, lay the command over the stored record, editUser with the whole record.
    private func edit(_ command: ProvisioningCommand, target: ProvisioningTarget) async throws(AdapterFailure) -> AdapterOutcome {
        let userId = try requireUserId(command)
        let changes = try changes(command)
        let (_, stored) = try await call(request(.GET, "/admin/getUser", query: [("uId", userId)], target: target), command: command, target: target)
        guard let stored = stored.objectValue else {
            throw AdapterFailure(.vendorError, message: "getUser answered without a user", vendorUserId: userId)
        }
        var edit = request(.POST, "/admin/editUser", query: [("uId", userId)], target: target)
        edit.body = .object(Self.editable(stored).merging(changes) { _, new in new })
        let (response, _) = try await call(edit, command: command, target: target)
        return .succeeded(vendorUserId: userId, data: nil, vendorResponse: response.vendor)
    }

    private func addUser(_ command: ProvisioningCommand, _ target: ProvisioningTarget) throws(AdapterFailure) -> VendorRequest {
        let user = try requireUser(command)
        let extensions = ExtensionFields(user, .urac)
        try extensions.onlyKeys(["profile", "pin", "config"])
        var body: [String: JSONValue] = [:]
        body.set("username", user.userName)
        body.set("firstName", user.givenName)
        body.set("lastName", user.familyName)
        body.set("email", user.email)
        if let groups = user.groups { body["groups"] = .array(groups.map(JSONValue.string)) }
        let password = user.password ?? command.password
        // URAC: a user without a password must be pendingNew, one with a password must not be.
        body["status"] = .string(user.active.map { $0 ? "active" : "inactive" } ?? (password == nil ? "pendingNew" : "active"))
        if let password {
            body["password"] = .string(password.revealed)
            body["confirmation"] = .string(password.revealed)
        }
        if let profile = try extensions.object("profile") {
            // The seed: "a stringified object".
            body["profile"] = .string(String(decoding: VendorJSON.encode(.object(profile)), as: UTF8.self))
        }
        if let pin = try extensions.object("pin") {
            guard case .string? = pin["code"], case .bool? = pin["allowed"] else {
                throw extensions.invalid("pin", "must be {\"code\": \"<digits>\", \"allowed\": true|false}")
            }
            body["pin"] = .object(pin)
        }
        var request = request(.POST, "/admin/addUser", query: [("tId", target.tenant["id"] ?? ""), ("tCode", target.tenant["code"] ?? "")], target: target)
        request.body = .object(body)
        return request
    }

    private func simpleRequest(_ command: ProvisioningCommand, _ target: ProvisioningTarget) throws(AdapterFailure) -> VendorRequest {
        let userId = try requireUserId(command)
        switch command.operation {
        case .getUser: return request(.GET, "/admin/getUser", query: [("uId", userId)], target: target)
        case .deleteUser: return request(.DELETE, "/admin/user/delete", query: [("uId", userId)], target: target)
        default: throw AdapterFailure(.internal, message: "urac: no single request for \(command.operation.rawValue)")
        }
    }

    /// The `editUser` fields a command changes; everything else comes from the stored user.
    private func changes(_ command: ProvisioningCommand) throws(AdapterFailure) -> [String: JSONValue] {
        var changes: [String: JSONValue] = [:]
        switch command.operation {
        case .updateUser:
            let user = try requireUser(command)
            let extensions = ExtensionFields(user, .urac)
            try extensions.onlyKeys(["profile", "pin", "config"])
            changes.set("username", user.userName)
            changes.set("firstName", user.givenName)
            changes.set("lastName", user.familyName)
            changes.set("email", user.email)
            changes.set("status", user.active.map { $0 ? "active" : "inactive" })
            if let groups = user.groups { changes["groups"] = .array(groups.map(JSONValue.string)) }
            if let password = user.password {
                changes["password"] = .string(password.revealed)
                changes["confirmation"] = .string(password.revealed)
            }
            if let profile = try extensions.object("profile") { changes["profile"] = .object(profile) }
            if let config = try extensions.object("config") { changes["config"] = .object(config) }
            if let pin = try extensions.object("pin") {
                // editUser's pin: `code: true` generates a new random pin; a pin cannot be set here.
                guard pin["code"].map({ $0.boolValue != nil }) ?? true, pin["allowed"].map({ $0.boolValue != nil }) ?? true else {
                    throw extensions.invalid("pin", "on update must be {\"code\": true|false, \"allowed\": true|false} (editUser cannot set a given pin)")
                }
                changes["pin"] = .object(pin)
            }
        case .setUserStatus:
            changes["status"] = .string(command.status == .inactive ? "inactive" : "active")
        case .changePassword:
            guard let password = command.password else { throw AdapterFailure(.invalidCommand, message: "'changePassword' needs 'password'") }
            changes["password"] = .string(password.revealed)
            changes["confirmation"] = .string(password.revealed)
        case .assignGroups:
            changes["groups"] = .array((command.groups ?? []).map(JSONValue.string))
        default:
            throw AdapterFailure(.unsupportedOperation, message: "urac has no '\(command.operation.rawValue)'")
        }
        return changes
    }

    /// The stored user as `editUser` takes it back: the required fields plus every optional one
    /// it would otherwise clear.
    static func editable(_ stored: [String: JSONValue]) -> [String: JSONValue] {
        var body: [String: JSONValue] = [:]
        for key in ["username", "firstName", "lastName", "email"] { body[key] = stored[key] ?? .string("") }
        let status = stored["status"]?.stringValue ?? "inactive"
        body["status"] = .string(status == "active" ? "active" : "inactive")  // editUser takes only these two
        body["groups"] = stored["groups"] ?? .array([])
        if let profile = stored["profile"], profile != .null {
            if case .string(let text) = profile, let parsed = VendorJSON.decode(Array(text.utf8)) {
                body["profile"] = parsed
            } else {
                body["profile"] = profile
            }
        }
        if let config = stored["config"], config != .null { body["config"] = config }
        return body
    }

    static func canonical(_ stored: [String: JSONValue]) -> CanonicalUser {
        var user = CanonicalUser()
        user.userName = stored["username"]?.stringValue
        user.email = stored["email"]?.stringValue
        user.givenName = stored["firstName"]?.stringValue
        user.familyName = stored["lastName"]?.stringValue
        user.active = stored["status"]?.stringValue.map { $0 == "active" }
        user.groups = stored["groups"]?.arrayValue?.compactMap(\.stringValue)
        var extensions: [String: JSONValue] = [:]
        for key in ["profile", "config", "status"] {
            if let value = stored[key], value != .null { extensions[key] = value }
        }
        if !extensions.isEmpty { user.extensions = ["urac": .object(extensions)] }
        return user
    }

    private func request(_ method: VendorRequest.Method, _ path: String, query: [(String, String)], target: ProvisioningTarget) -> VendorRequest {
        var query = query
        if let token = target.credentials["accessToken"] { query.append(("access_token", token.revealed)) }
        var request = VendorRequest(method, path, query: query)
        request.headers.append(("key", .secret(target.credentials["key"] ?? Secret(""))))
        return request
    }

    private struct Answer {
        var http: VendorHTTPResponse
        var vendor: VendorResponse
    }

    private func call(_ request: VendorRequest, command: ProvisioningCommand, target: ProvisioningTarget) async throws(AdapterFailure) -> (Answer, JSONValue) {
        let response = try await http.send(request, to: target)
        let data = try interpret(response, operation: command.operation).get()
        return (Answer(http: response, vendor: VendorResponse(response)), data)
    }

    /// The envelope, read the same with HTTP 200 (soajs 2.x) or 500 (3.x).
    func interpret(_ response: VendorHTTPResponse, operation: Operation) -> Result<JSONValue, AdapterFailure> {
        guard let body = response.json?.objectValue, let result = body["result"]?.boolValue else {
            return .failure(VendorErrorTable.statusFailure(response))
        }
        if result, response.isSuccess { return .success(body["data"] ?? .null) }
        let errors = body["errors"]?.objectValue
        let detail = errors?["details"]?.arrayValue?.first?.objectValue
        let code = detail?["code"]?.textValue ?? errors?["codes"]?.arrayValue?.first?.textValue
        return .failure(VendorErrorTable.failure(.urac, operation: operation, code: code, message: detail?["message"]?.stringValue, response: response))
    }
}

enum URAC {
    /// Seeds 001 and 003 plus soajs.urac's source and the soajs gateway.
    static let errorRules: [VendorErrorRule] = [
        .init(.urac, "132", .unauthorized, "a valid key is needed (gateway, HTTP 403)"),
        .init(.urac, "158", .unauthorized, "login needed (gateway, HTTP 401)"),
        .init(.urac, "172", .validation, "missing required field"),
        .init(.urac, "173", .validation, "invalid field"),
        .init(.urac, "399", .vendorError, "missing service configuration"),
        .init(.urac, "400", .unavailable, retryable: true, "database connection error"),
        .init(.urac, "401", .unauthorized, "login failed"),
        .init(.urac, "402", .conflict, "user account already exists"),
        .init(.urac, "403", .unavailable, retryable: true, on: .createUser, "unable to register user, please try again"),
        .init(.urac, "403", .notFound, "user not found"),
        .init(.urac, "405", .notFound, "unable to find user"),
        .init(.urac, "406", .unauthorized, "invalid or expired token"),
        .init(.urac, "407", .validation, "problem validating request"),
        .init(.urac, "408", .validation, "password and confirmation differ"),
        .init(.urac, "409", .validation, "invalid old password"),
        .init(.urac, "410", .conflict, "username taken"),
        .init(.urac, "411", .notFound, "invalid user id"),
        .init(.urac, "412", .conflict, "email already in use"),
        .init(.urac, "413", .validation, "invalid profile or password"),
        .init(.urac, "414", .vendorError, "unable to add user"),
        .init(.urac, "415", .notFound, "unable to find group"),
        .init(.urac, "424", .validation, "pending user with a password, or another status without one"),
        .init(.urac, "500", .conflict, "record locked"),
        .init(.urac, "611", .notFound, "invalid tenant id"),
    ]
}
