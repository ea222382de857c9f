import Foundation
import Provisioning
import ProvisioningContract

/// ServiceMobility User REST API (seed 002): a JWT from `/createjwt`, the user at
/// `/trans/User/{UserID}`, errors as HTTP statuses. `PUT` is an upsert that replaces the whole
/// user, so `createUser` reads first (never overwrite) and updates are read-modify-write.
public struct ServiceMobilityAdapter: VendorAdapter {
    public let kind = VendorKind.servicemobility
    let http: VendorHTTPClient
    let tokens: TokenCache

    public init(http: VendorHTTPClient) {
        self.http = http
        self.tokens = TokenCache()
    }

    public func plan(_ command: ProvisioningCommand, for target: ProvisioningTarget) -> Result<JSONValue, AdapterFailure> {
        planning { () throws(AdapterFailure) in
            let userId = try Self.userId(command)
            var request: VendorRequest
            switch command.operation {
            case .createUser:
                request = VendorRequest(
                    .PUT, Self.path(userId), body: .object(try Self.fields(of: try requireUser(command), creating: true, password: command.password)))
            case .updateUser:
                request = VendorRequest(.PUT, Self.path(userId), body: .object(try Self.fields(of: try requireUser(command), creating: false, password: nil)))
            case .setUserStatus: request = VendorRequest(.PUT, Self.path(userId), body: .object(["Activated": .bool(command.status != .inactive)]))
            default: request = try Self.request(for: command, userId: userId)
            }
            request.headers.append(("x-access-token", .secret(Secret(""))))
            guard case .object(var shown) = request.planned(base: target.baseURL) else { return .null }
            if [.createUser, .updateUser, .setUserStatus].contains(command.operation) {
                shown["mergedWith"] = .string("GET \(Self.path(userId))")
            }
            return .object(shown)
        }
    }

    public func perform(_ command: ProvisioningCommand, for target: ProvisioningTarget) async -> AdapterOutcome {
        await outcome { () async throws(AdapterFailure) in
            let userId = try Self.userId(command)
            switch command.operation {
            case .createUser:
                return try await create(command, userId: userId, target: target)
            case .updateUser, .setUserStatus:
                let (_, stored) = try await call(VendorRequest(.GET, Self.path(userId)), command: command, target: target)
                var user = stored.objectValue ?? [:]
                if command.operation == .updateUser {
                    let changes = try Self.fields(of: try requireUser(command), creating: false, password: nil, phones: user["Phones"])
                    user.merge(changes) { _, new in new }
                } else {
                    user["Activated"] = .bool(command.status != .inactive)
                }
                user["Password"] = user["Password"].flatMap { $0 == .string("") ? nil : $0 }  // empty keeps the stored one
                user["UserID"] = .string(userId)
                let (response, _) = try await call(VendorRequest(.PUT, Self.path(userId), body: .object(user)), command: command, target: target)
                return .succeeded(vendorUserId: userId, data: nil, vendorResponse: response)
            case .getUser:
                let (response, stored) = try await call(VendorRequest(.GET, Self.path(userId)), command: command, target: target)
                return .succeeded(
                    vendorUserId: userId, data: .object(["user": canonicalJSON(Self.canonical(stored.objectValue ?? [:]))]), vendorResponse: response)
            default:
                let (response, _) = try await call(try Self.request(for: command, userId: userId), command: command, target: target)
                return .succeeded(vendorUserId: userId, data: nil, vendorResponse: response)
            }
        }
    }

    /// GET first: a user that is already there is never replaced. If it is the very user the
    /// command describes, this is a redelivery and succeeds; otherwise it is a conflict.
    private func create(_ command: ProvisioningCommand, userId: String, target: ProvisioningTarget) async throws(AdapterFailure) -> AdapterOutcome {
        let user = try requireUser(command)
        let body = try Self.fields(of: user, creating: true, password: command.password)
        let lookup = try await send(VendorRequest(.GET, Self.path(userId)), target: target)
        if lookup.isSuccess {
            let stored = lookup.json?.objectValue ?? [:]
            let same =
                matches(user.email, stored["Email"]?.stringValue) && matches(user.givenName, stored["FirstName"]?.stringValue)
                && matches(user.familyName, stored["LastName"]?.stringValue)
            guard same else {
                throw AdapterFailure(
                    .conflict, message: "servicemobility already has a different user '\(userId)'; it was left unchanged", after: lookup, vendorUserId: userId)
            }
            return .succeeded(
                vendorUserId: userId, data: .object(["alreadyExisted": .bool(true)]), vendorResponse: VendorResponse(lookup, code: String(lookup.status)))
        }
        guard lookup.status == 410 else {
            throw interpret(lookup, operation: command.operation).failure
                ?? AdapterFailure(.vendorError, message: "GET answered \(lookup.status)", after: lookup)
        }
        var (response, _) = try await call(VendorRequest(.PUT, Self.path(userId), body: .object(body)), command: command, target: target)
        if let groups = user.groups {
            (response, _) = try await call(
                VendorRequest(.PUT, Self.path(userId) + "/ServiceTeams", body: .object(["ServiceTeams": .array(groups.map(JSONValue.string))])),
                command: command, target: target)
        }
        return .succeeded(vendorUserId: userId, data: nil, vendorResponse: response)
    }

    static func request(for command: ProvisioningCommand, userId: String) throws(AdapterFailure) -> VendorRequest {
        switch command.operation {
        case .deleteUser: return VendorRequest(.DELETE, path(userId))
        case .getUser: return VendorRequest(.GET, path(userId))
        case .resetPassword: return VendorRequest(.PUT, path(userId) + "/ResetPassword")
        case .changePassword:
            guard let password = command.password else { throw AdapterFailure(.invalidCommand, message: "'changePassword' needs 'password'") }
            return VendorRequest(.PUT, path(userId) + "/ChangePassword", body: .object(["Password": .string(password.revealed)]))
        case .assignGroups:
            return VendorRequest(.PUT, path(userId) + "/ServiceTeams", body: .object(["ServiceTeams": .array((command.groups ?? []).map(JSONValue.string))]))
        default:
            throw AdapterFailure(.unsupportedOperation, message: "servicemobility has no '\(command.operation.rawValue)'")
        }
    }

    static func path(_ userId: String) -> String { "/trans/User/\(VendorRequest.segment(userId))" }

    /// `createUser` names the user by `user.userName`; every other operation by `userId`.
    static func userId(_ command: ProvisioningCommand) throws(AdapterFailure) -> String {
        if command.operation == .createUser {
            guard let name = command.user?.userName else {
                throw AdapterFailure(.validation, message: "servicemobility needs 'user.userName': it is the UserID")
            }
            return name
        }
        return try requireUserId(command)
    }

    /// Canonical user → User object fields; on update only the mentioned ones.
    static func fields(of user: CanonicalUser, creating: Bool, password: Secret?, phones stored: JSONValue? = nil) throws(AdapterFailure) -> [String: JSONValue]
    {
        var body: [String: JSONValue] = [:]
        if creating, let name = user.userName { body["UserID"] = .string(name) }
        body.set("Email", user.email)
        body.set("FirstName", user.givenName)
        body.set("LastName", user.familyName)
        body.set("LanguageCode", user.locale)
        if let active = user.active { body["Activated"] = .bool(active) } else if creating { body["Activated"] = .bool(true) }
        if let password = user.password ?? (creating ? password : nil) { body["Password"] = .string(password.revealed) }
        if user.phone != nil || user.mobile != nil {
            var phones = (stored?.arrayValue ?? []).compactMap(\.objectValue)
            for (type, number) in [("Work", user.phone), ("Mobile", user.mobile)] {
                guard let number else { continue }
                phones.removeAll { $0["PhoneType"]?.stringValue == type }
                phones.append(["PhoneNum": .string(number), "PhoneType": .string(type)])
            }
            body["Phones"] = .array(phones.map(JSONValue.object))
        }
        let extensions = ExtensionFields(user, .servicemobility)
        try extensions.onlyKeys(stringFields.union(boolFields).union(["Extensions"]))
        for key in stringFields { body.set(key, try extensions.string(key)) }
        for key in boolFields { if let flag = try extensions.bool(key) { body[key] = .bool(flag) } }
        if let map = try extensions.stringMap("Extensions") { body["Extensions"] = .object(map.mapValues(JSONValue.string)) }
        return body
    }

    static let stringFields: Set<String> = ["AuthenticationID", "DGroupID", "FaceTime", "SMS", "Status", "StorageLocationID", "ServiceTeamID"]
    static let boolFields: Set<String> = ["EnableMobileDiagnostics", "IsMobileWorker", "Locked", "ResetPassword"]

    static func canonical(_ stored: [String: JSONValue]) -> CanonicalUser {
        var user = CanonicalUser()
        user.userName = stored["UserID"]?.stringValue
        user.email = stored["Email"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        user.givenName = stored["FirstName"]?.stringValue
        user.familyName = stored["LastName"]?.stringValue
        user.locale = stored["LanguageCode"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        user.active = stored["Activated"]?.boolValue
        let phones = (stored["Phones"]?.arrayValue ?? []).compactMap(\.objectValue)
        user.phone = phones.first { $0["PhoneType"]?.stringValue == "Work" }?["PhoneNum"]?.stringValue
        user.mobile = phones.first { $0["PhoneType"]?.stringValue == "Mobile" }?["PhoneNum"]?.stringValue
        var extensions: [String: JSONValue] = [:]
        for key in stringFields.union(boolFields).union(["Extensions", "Deleted"]) {
            if let value = stored[key], value != .null, value != .string("") { extensions[key] = value }
        }
        if !extensions.isEmpty { user.extensions = ["servicemobility": .object(extensions)] }
        return user
    }

    private func send(_ request: VendorRequest, target: ProvisioningTarget) async throws(AdapterFailure) -> VendorHTTPResponse {
        try await http.sendAuthorized(
            target, tokens: tokens, fetch: { () async throws(AdapterFailure) in try await self.fetchToken(target) },
            authorize: { token in
                var request = request
                request.headers.append(("x-access-token", .secret(token)))
                return request
            })
    }

    private func call(_ request: VendorRequest, command: ProvisioningCommand, target: ProvisioningTarget) async throws(AdapterFailure) -> (
        VendorResponse, JSONValue
    ) {
        let response = try await send(request, target: target)
        let body = try interpret(response, operation: command.operation).get()
        return (VendorResponse(response, code: String(response.status)), body)
    }

    private func fetchToken(_ target: ProvisioningTarget) async throws(AdapterFailure) -> Secret {
        let body: JSONValue = .object([
            "username": .string(target.credentials["username"]?.revealed ?? ""),
            "password": .string(target.credentials["password"]?.revealed ?? ""),
        ])
        let response = try await http.send(VendorRequest(.POST, "/createjwt", body: body), to: target)
        let answer = try interpret(response, operation: .getUser).get()
        guard let token = answer["token"]?.stringValue, !token.isEmpty else {
            throw AdapterFailure(.vendorError, message: "createjwt answered without a token", after: response)
        }
        return Secret(token)
    }

    /// 2xx is success (any body); otherwise the body's `code`, or the HTTP status, from the table.
    func interpret(_ response: VendorHTTPResponse, operation: Operation) -> Result<JSONValue, AdapterFailure> {
        if response.isSuccess { return .success(response.json ?? .null) }
        let body = response.json?.objectValue
        let code = body?["code"]?.textValue ?? String(response.status)
        let message = body?["detail"]?.objectValue?["message"]?.stringValue ?? body?["message"]?.stringValue ?? VendorErrorTable.snippet(response.bytes)
        return .failure(VendorErrorTable.failure(.servicemobility, operation: operation, code: code, message: message, response: response))
    }
}

enum ServiceMobility {
    /// HTTP statuses as the ServiceMobility wiki documents them, plus gateway statuses.
    static let errorRules: [VendorErrorRule] = [
        .init(.servicemobility, "400", .validation, "syntax error or invalid data"),
        .init(.servicemobility, "401", .unauthorized, "unauthorized (after one token renewal)"),
        .init(.servicemobility, "403", .unauthorized, "forbidden"),
        .init(.servicemobility, "404", .vendorError, "bad URL"),
        .init(.servicemobility, "405", .vendorError, "method not supported"),
        .init(.servicemobility, "409", .conflict, "conflict"),
        .init(.servicemobility, "410", .notFound, "object does not exist"),
        .init(.servicemobility, "429", .unavailable, retryable: true, "too many requests"),
        .init(.servicemobility, "500", .unavailable, retryable: true, "internal error"),
        .init(.servicemobility, "502", .unavailable, retryable: true, "bad gateway"),
        .init(.servicemobility, "503", .unavailable, retryable: true, "service unavailable"),
        .init(.servicemobility, "504", .unavailable, retryable: true, "gateway timeout"),
    ]
}
