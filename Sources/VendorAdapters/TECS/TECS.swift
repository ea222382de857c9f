import Foundation
import Provisioning
import ProvisioningContract

/// TECS User Management (seed 000): HTTP Basic, `POST` with JSON everywhere, and an answer
/// envelope whose non-zero `responseCode` is an error whatever the HTTP status.
public struct TECSAdapter: VendorAdapter {
    public let kind = VendorKind.tecs
    let http: VendorHTTPClient

    public init(http: VendorHTTPClient) {
        self.http = http
    }

    public func plan(_ command: ProvisioningCommand, for target: ProvisioningTarget) -> Result<JSONValue, AdapterFailure> {
        planning { () throws(AdapterFailure) in
            try request(for: command, target: target).planned(base: target.baseURL)
        }
    }

    public func perform(_ command: ProvisioningCommand, for target: ProvisioningTarget) async -> AdapterOutcome {
        await outcome { () async throws(AdapterFailure) in
            switch command.operation {
            case .createUser:
                return try await create(command, target: target)
            case .resetPassword:
                let userId = try requireUserId(command)
                let (listed, users) = try await list(["consumerUUID": .string(userId)], command: command, target: target)
                guard let user = users.first else {
                    throw AdapterFailure(.notFound, message: "TECS has no consumer '\(userId)'", after: listed, vendorUserId: userId)
                }
                var request = try request(for: command, target: target)
                if let phone = user["phone"]?.stringValue, !phone.isEmpty {
                    request.body = .object(["consumerUuid": .string(userId), "phoneNumber": .string(phone)])
                }
                let (response, _) = try await call(request, command: command, target: target)
                return .succeeded(vendorUserId: userId, data: nil, vendorResponse: response)
            default:
                let (response, _) = try await call(try request(for: command, target: target), command: command, target: target)
                return .succeeded(vendorUserId: command.userId, data: nil, vendorResponse: response)
            }
        }
    }

    /// `registerUser`; a duplicate (25012) that `listOfUsers` shows to be this very user is a
    /// redelivered command, answered `succeeded`.
    private func create(_ command: ProvisioningCommand, target: ProvisioningTarget) async throws(AdapterFailure) -> AdapterOutcome {
        let request = try request(for: command, target: target)
        do {
            let (response, body) = try await call(request, command: command, target: target)
            let consumerId = body["consumerId"]?.textValue
            return .succeeded(vendorUserId: consumerId, data: nil, vendorResponse: response)
        } catch let failure where failure.error.code == "25012" {
            let user = try requireUser(command)
            guard let email = user.email else { throw failure }
            let (listed, users) = try await list(["email": .string(email)], command: command, target: target)
            let same = users.first { existing in
                matches(email, existing["email"]?.stringValue) && matches(user.userName, existing["login"]?.stringValue)
                    && matches(user.givenName, existing["firstName"]?.stringValue) && matches(user.familyName, existing["lastName"]?.stringValue)
            }
            guard let same, let consumerId = same["consumerId"]?.textValue else { throw failure }
            return .succeeded(
                vendorUserId: consumerId, data: .object(["alreadyExisted": .bool(true)]), vendorResponse: VendorResponse(listed, code: "0", message: "OK"))
        }
    }

    private func list(_ filter: [String: JSONValue], command: ProvisioningCommand, target: ProvisioningTarget) async throws(AdapterFailure) -> (
        VendorHTTPResponse, [[String: JSONValue]]
    ) {
        var request = VendorRequest(.POST, "/listOfUsers", body: .object(filter))
        authorize(&request, target)
        let response = try await http.send(request, to: target)
        let body = try interpret(response, operation: command.operation).get()
        return (response, (body["users"]?.arrayValue ?? []).compactMap { $0.objectValue })
    }

    /// The request an operation sends (the dry run shows it).
    func request(for command: ProvisioningCommand, target: ProvisioningTarget) throws(AdapterFailure) -> VendorRequest {
        var request: VendorRequest
        switch command.operation {
        case .createUser:
            request = VendorRequest(.POST, "/registerUser", body: .object(try Self.fields(of: try requireUser(command))))
        case .updateUser:
            var body = try Self.fields(of: try requireUser(command))
            body["consumerUuid"] = .string(try requireUserId(command))
            request = VendorRequest(.POST, "/updateConsumer", body: .object(body))
        case .setUserStatus:
            let path = command.status == .inactive ? "/deactivateUser" : "/activateUser"
            request = VendorRequest(.POST, path, body: .object(["consumerUUID": .string(try requireUserId(command))]))
        case .resetPassword:
            request = VendorRequest(.POST, "/resetPassword", body: .object(["consumerUuid": .string(try requireUserId(command))]))
        case .assignRoles, .removeRoles:
            let roles = (command.roles ?? []).map { role -> JSONValue in
                var entry: [String: JSONValue] = ["userRoleName": .string(role.name)]
                entry.set("corporateUUID", role.scope)
                return .object(entry)
            }
            let path = command.operation == .assignRoles ? "/assignRoles" : "/removeRoles"
            request = VendorRequest(.POST, path, body: .object(["consumerUUID": .string(try requireUserId(command)), "roles": .array(roles)]))
        default:
            throw AdapterFailure(.unsupportedOperation, message: "tecs has no '\(command.operation.rawValue)'")
        }
        authorize(&request, target)
        return request
    }

    private func authorize(_ request: inout VendorRequest, _ target: ProvisioningTarget) {
        let username = target.credentials["username"]?.revealed ?? ""
        let password = target.credentials["password"]?.revealed ?? ""
        let basic = Data("\(username):\(password)".utf8).base64EncodedString()
        request.headers.append(("Authorization", .secret(Secret("Basic \(basic)"))))
    }

    private func call(_ request: VendorRequest, command: ProvisioningCommand, target: ProvisioningTarget) async throws(AdapterFailure) -> (
        VendorResponse, [String: JSONValue]
    ) {
        let response = try await http.send(request, to: target)
        let body = try interpret(response, operation: command.operation).get()
        return (VendorResponse(response, code: body["responseCode"]?.textValue, message: body["responseMessage"]?.stringValue), body)
    }

    /// The envelope: `responseCode` 0 is success, anything else an error from the table.
    func interpret(_ response: VendorHTTPResponse, operation: Operation) -> Result<[String: JSONValue], AdapterFailure> {
        guard let body = response.json?.objectValue, let code = vendorInteger(body["responseCode"]) else {
            return .failure(VendorErrorTable.statusFailure(response))
        }
        if code == 0, response.isSuccess { return .success(body) }
        if code == 0 { return .failure(VendorErrorTable.statusFailure(response)) }
        return .failure(
            VendorErrorTable.failure(.tecs, operation: operation, code: String(code), message: body["responseMessage"]?.stringValue, response: response))
    }

    /// Canonical user → `registerUser` / `updateConsumer` fields; only mentioned fields appear.
    static func fields(of user: CanonicalUser) throws(AdapterFailure) -> [String: JSONValue] {
        var body: [String: JSONValue] = [:]
        body.set("login", user.userName)
        body.set("email", user.email)
        body.set("firstName", user.givenName)
        body.set("lastName", user.familyName)
        body.set("salutation", user.salutation)
        body.set("dateOfBirth", user.birthDate.flatMap(CalendarDate.dotted))
        body.set("phone", user.phone ?? user.mobile)
        body.set("street1", user.address?.street1)
        body.set("street2", user.address?.street2)
        body.set("city", user.address?.city)
        body.set("state", user.address?.state)
        body.set("zip", user.address?.postalCode)
        body.set("country", user.address?.country)
        body.set("identificationNumber", user.documents?.nationalId?.revealed)
        body.set("passportNumber", user.documents?.passport?.revealed)
        body.set("driverLicenceNumber", user.documents?.driverLicence?.revealed)
        let extensions = ExtensionFields(user, .tecs)
        try extensions.onlyKeys(Self.registerFields)
        for key in extensions.object.keys {
            body.set(key, try extensions.string(key))
        }
        return body
    }

    static let registerFields: Set<String> = [
        "city", "country", "dateOfBirth", "driverLicenceNumber", "email", "firstName", "identificationNumber", "lastName",
        "login", "passportNumber", "phone", "salutation", "state", "street1", "street2", "zip",
    ]
}

enum TECS {
    /// Seed 000's error codes.
    static let errorRules: [VendorErrorRule] = [
        .init(.tecs, "24000", .unauthorized, "no permission (User_HasNotRole)"),
        .init(.tecs, "24001", .unauthorized, "no permission (Mandator_IsNotTheSame)"),
        .init(.tecs, "24012", .validation, "mandatory fields are not filled"),
        .init(.tecs, "24014", .vendorError, "unexpected exception"),
        .init(.tecs, "24029", .validation, "terminalid missing or malformed"),
        .init(.tecs, "24030", .validation, "reason_deactivation missing or malformed"),
        .init(.tecs, "25000", .unavailable, retryable: true, "INTERNAL_SERVER_ERROR"),
        .init(.tecs, "25001", .unavailable, retryable: true, "OAUTH_INTERACTION_FAILED"),
        .init(.tecs, "25002", .unauthorized, "OAUTH_INVALID_TOKEN"),
        .init(.tecs, "25003", .unauthorized, "UNAUTHORIZED"),
        .init(.tecs, "25004", .validation, "BAD_REQUEST"),
        .init(.tecs, "25005", .conflict, "USER_INACTIVE"),
        .init(.tecs, "25007", .notFound, "TECS_TERM_NOT_FOUND"),
        .init(.tecs, "25008", .notFound, "MANDATOR_NOT_FOUND"),
        .init(.tecs, "25012", .conflict, "DATA_INTEGRITY_ERROR (duplicate)"),
        .init(.tecs, "25013", .unavailable, retryable: true, "DATA_ACCESS_ERROR"),
    ]
}
