import Foundation
import ProvisioningContract

// ServiceMobility User REST API (docs/vendors.md "ServiceMobility"): a JWT from `POST /createjwt`
// sent as `x-access-token`; errors are HTTP statuses with `{"code":N,"detail":{"message":...}}`.

/// ServiceMobility's users by `UserID` (insertion order kept), live tokens and assigned service teams.
struct ServiceMobilityStore: Sendable {
    var order: [String] = []
    var users: [String: [String: JSONValue]] = [:]
    var serviceTeams: [String: [String]] = [:]
    var tokens: Set<String> = []

    var storedUsers: [JSONValue] {
        order.compactMap { id in
            guard var user = users[id] else { return nil }
            user["ServiceTeams"] = .array((serviceTeams[id] ?? []).map(JSONValue.string))
            return .object(user)
        }
    }

    mutating func put(_ id: String, _ user: [String: JSONValue]) {
        if users[id] == nil { order.append(id) }
        users[id] = user
    }

    mutating func remove(_ id: String) {
        users[id] = nil
        serviceTeams[id] = nil
        order.removeAll { $0 == id }
    }
}

/// The ServiceMobility routes, validation and error shapes.
enum ServiceMobility {
    static let username = "smadmin"
    static let password = "smpassword"
    static let knownServiceTeams: Set<String> = ["north", "south", "east", "west"]

    static let stringFields: Set<String> = [
        "AuthenticationID", "DGroupID", "Email", "FaceTime", "FirstName", "LanguageCode", "LastName", "Password", "SMS",
        "Status", "StorageLocationID", "ServiceTeamID", "UserID",
    ]
    static let boolFields: Set<String> = ["Activated", "Deleted", "EnableMobileDiagnostics", "IsMobileWorker", "Locked", "ResetPassword"]

    static func reason(_ status: Int) -> String {
        switch status {
        case 400: "Syntax error"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Bad URL"
        case 405: "Method not supported"
        case 409: "Conflict"
        case 410: "Object does not exist"
        case 429: "Too many requests"
        case 500: "Internal error"
        case 502: "Bad gateway"
        case 503: "Service unavailable"
        case 504: "Gateway timeout"
        default: "Error"
        }
    }

    static func error(_ status: Int, _ message: String? = nil, dataPath: String? = nil, params: [String: JSONValue] = [:]) -> SimResponse {
        var detail: [String: JSONValue] = ["message": .string(message ?? reason(status)), "params": .object(params)]
        if let dataPath { detail["dataPath"] = .string(dataPath) }
        return .json(status, .object(["code": .integer(Int64(status)), "detail": .object(detail)]))
    }

    static func queuedError(_ code: String) -> SimResponse {
        let status = Int(code).flatMap { (400...599).contains($0) ? $0 : nil } ?? 500
        return error(status)
    }

    static func isTokenCall(_ request: SimRequest) -> Bool { request.segments == ["createjwt"] }

    /// `POST /createjwt {"username","password"}` → `{"token"}`, or 401 "Invalid Logon".
    static func createToken(_ request: SimRequest, state: inout SimulatorState) -> SimResponse {
        guard request.method == "POST" else { return error(405) }
        guard let body = request.jsonObject else { return error(400, "Syntax error: the body is not a JSON object") }
        guard body["username"]?.stringValue == username, body["password"]?.stringValue == password else {
            return error(401, "Invalid Logon")
        }
        let token = jwt()
        state.servicemobility.tokens.insert(token)
        state.countToken(.servicemobility, token)
        return .json(200, .object(["token": .string(token)]))
    }

    /// A token shaped like a JWT (three base64url parts); only the simulator's memory makes it valid.
    static func jwt() -> String {
        func part(_ text: String) -> String {
            Data(text.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-").replacingOccurrences(
                of: "/", with: "_")
        }
        let now = Int(Date().timeIntervalSince1970)
        return part(#"{"alg":"HS256","typ":"JWT"}"#) + "." + part(#"{"sub":"\#(username)","iat":\#(now),"jti":"\#(UUID().uuidString)"}"#) + "."
            + part(UUID().uuidString)
    }

    static func handle(_ request: SimRequest, state: inout SimulatorState) -> SimResponse {
        guard let token = request.header("x-access-token"), !token.isEmpty else { return error(401, "Missing x-access-token") }
        guard state.servicemobility.tokens.contains(token) else { return error(401, "Invalid or expired token") }
        let segments = request.segments
        guard segments.count >= 3, segments.count <= 4, segments[0] == "trans", segments[1] == "User", !segments[2].isEmpty else {
            return error(404)
        }
        let id = segments[2]
        let store = state.servicemobility
        if segments.count == 3 {
            switch request.method {
            case "GET":
                guard var user = store.users[id] else { return missing(id) }
                user["Password"] = .string("")
                return .json(200, .object(user))
            case "PUT": return put(id, request, store: &state.servicemobility)
            case "DELETE":
                guard store.users[id] != nil else { return missing(id) }
                state.servicemobility.remove(id)
                return .empty()
            default: return error(405)
            }
        }
        guard ["ResetPassword", "ChangePassword", "ServiceTeams"].contains(segments[3]) else { return error(404) }
        guard request.method == "PUT" else { return error(405) }
        guard store.users[id] != nil else { return missing(id) }
        switch segments[3] {
        case "ResetPassword":
            state.servicemobility.users[id]?["Password"] = .string(randomToken("Sm1!").prefix(16).description)
            state.servicemobility.users[id]?["ResetPassword"] = .bool(true)
            return .empty()
        case "ChangePassword":
            guard let body = request.jsonObject else { return error(400, "Syntax error: the body is not a JSON object") }
            guard let password = body["Password"]?.stringValue else {
                return error(400, "should have required property 'Password'", dataPath: "/Password", params: ["missingProperty": .string("Password")])
            }
            guard password.count >= 8 else {
                return error(400, "should NOT be shorter than 8 characters", dataPath: "/Password", params: ["limit": .integer(8)])
            }
            state.servicemobility.users[id]?["Password"] = .string(password)
            state.servicemobility.users[id]?["ResetPassword"] = .bool(false)
            return .empty()
        default:
            guard let body = request.jsonObject else { return error(400, "Syntax error: the body is not a JSON object") }
            guard let items = body["ServiceTeams"]?.arrayValue else {
                return error(400, "should be array", dataPath: "/ServiceTeams", params: ["type": .string("array")])
            }
            var teams: [String] = []
            for (index, item) in items.enumerated() {
                guard let team = item.stringValue else {
                    return error(400, "should be string", dataPath: "/ServiceTeams/\(index)", params: ["type": .string("string")])
                }
                guard knownServiceTeams.contains(team) else {
                    return error(400, "unknown service team '\(team)'", dataPath: "/ServiceTeams/\(index)")
                }
                if !teams.contains(team) { teams.append(team) }
            }
            state.servicemobility.serviceTeams[id] = teams
            return .empty()
        }
    }

    static func missing(_ id: String) -> SimResponse { error(410, "User '\(id)' does not exist") }

    /// Upsert: the body replaces the whole user; an empty or absent `Password` keeps the stored one.
    static func put(_ id: String, _ request: SimRequest, store: inout ServiceMobilityStore) -> SimResponse {
        guard let body = request.jsonObject else { return error(400, "Syntax error: the body is not a JSON object") }
        var user: [String: JSONValue] = [:]
        for name in stringFields { user[name] = .string("") }
        for name in boolFields { user[name] = .bool(false) }
        user["Activated"] = .bool(true)
        user["Extensions"] = .object([:])
        user["Phones"] = .array([])
        for (key, value) in body.sorted(by: { $0.key < $1.key }) {
            if value == .null { continue }
            if stringFields.contains(key) {
                guard value.stringValue != nil else { return typeError(key, "string") }
            } else if boolFields.contains(key) {
                guard value.boolValue != nil else { return typeError(key, "boolean") }
            } else if key == "Extensions" {
                guard let map = value.objectValue else { return typeError(key, "object") }
                for (name, entry) in map where entry.stringValue == nil { return typeError("Extensions/\(name)", "string") }
            } else if key == "Phones" {
                guard let phones = value.arrayValue else { return typeError(key, "array") }
                for (index, phone) in phones.enumerated() {
                    guard let object = phone.objectValue else { return typeError("Phones/\(index)", "object") }
                    for (name, entry) in object {
                        guard name == "PhoneNum" || name == "PhoneType" else {
                            return error(
                                400, "should NOT have additional properties", dataPath: "/Phones/\(index)", params: ["additionalProperty": .string(name)])
                        }
                        guard entry.stringValue != nil else { return typeError("Phones/\(index)/\(name)", "string") }
                    }
                }
            } else {
                return error(400, "should NOT have additional properties", dataPath: "", params: ["additionalProperty": .string(key)])
            }
            user[key] = value
        }
        if let bodyId = body["UserID"]?.stringValue, !bodyId.isEmpty, bodyId != id {
            return error(400, "UserID does not match the URL", dataPath: "/UserID")
        }
        user["UserID"] = .string(id)
        if let email = user["Email"]?.stringValue, !email.isEmpty, !validEmail(email) {
            return error(400, "should match format \"email\"", dataPath: "/Email", params: ["format": .string("email")])
        }
        if let team = user["ServiceTeamID"]?.stringValue, !team.isEmpty, !knownServiceTeams.contains(team) {
            return error(400, "unknown service team '\(team)'", dataPath: "/ServiceTeamID")
        }
        if (user["AuthenticationID"]?.stringValue ?? "").isEmpty { user["AuthenticationID"] = .string(id) }
        if (user["Password"]?.stringValue ?? "").isEmpty { user["Password"] = store.users[id]?["Password"] ?? .string("") }
        store.put(id, user)
        return .empty()
    }

    static func typeError(_ field: String, _ type: String) -> SimResponse {
        error(400, "should be \(type)", dataPath: "/\(field)", params: ["type": .string(type)])
    }

    static func validEmail(_ email: String) -> Bool {
        let parts = email.split(separator: "@", omittingEmptySubsequences: false)
        return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty && !email.contains(" ")
    }
}
