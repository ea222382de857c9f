import Foundation
import Provisioning
import ProvisioningContract

/// Aranda ASMS API v9 (seed 004): a bearer token from `/api/v9/authentication`, numeric enums
/// the seed also writes as names, dates in Unix milliseconds. `PUT` replaces the record, so
/// updates are read-modify-write.
public struct ASMSAdapter: VendorAdapter {
    public let kind = VendorKind.asms
    let http: VendorHTTPClient
    let tokens: TokenCache

    public init(http: VendorHTTPClient) {
        self.http = http
        self.tokens = TokenCache()
    }

    public func plan(_ command: ProvisioningCommand, for target: ProvisioningTarget) -> Result<JSONValue, AdapterFailure> {
        planning { () throws(AdapterFailure) in
            var request: VendorRequest
            switch command.operation {
            case .createUser:
                request = VendorRequest(
                    .POST, "/api/v9/user", body: .object(try Self.fields(of: try requireUser(command), creating: true, password: command.password)))
            case .getUser:
                request = VendorRequest(.GET, "/api/v9/user", query: [("id", try requireUserId(command))])
            case .updateUser, .setUserStatus:
                request = VendorRequest(.PUT, "/api/v9/user/\(VendorRequest.segment(try requireUserId(command)))", body: .object(try changes(command)))
            default:
                throw AdapterFailure(.unsupportedOperation, message: "asms has no '\(command.operation.rawValue)'")
            }
            request.headers.append(("X-Authorization", .secret(Secret(""))))
            guard case .object(var shown) = request.planned(base: target.baseURL) else { return .null }
            if request.method == .PUT { shown["mergedWith"] = .string("GET /api/v9/user?id=\(command.userId ?? "")") }
            return .object(shown)
        }
    }

    public func perform(_ command: ProvisioningCommand, for target: ProvisioningTarget) async -> AdapterOutcome {
        await outcome { () async throws(AdapterFailure) in
            switch command.operation {
            case .createUser:
                return try await create(command, target: target)
            case .getUser:
                let userId = try requireUserId(command)
                let (response, stored) = try await call(VendorRequest(.GET, "/api/v9/user", query: [("id", userId)]), command: command, target: target)
                return .succeeded(
                    vendorUserId: userId, data: .object(["user": canonicalJSON(Self.canonical(stored.objectValue ?? [:]))]), vendorResponse: response)
            case .updateUser, .setUserStatus:
                let userId = try requireUserId(command)
                let changes = try changes(command)
                let (_, stored) = try await call(VendorRequest(.GET, "/api/v9/user", query: [("id", userId)]), command: command, target: target)
                let body = Self.editable(stored.objectValue ?? [:]).merging(changes) { _, new in new }
                let (response, _) = try await call(
                    VendorRequest(.PUT, "/api/v9/user/\(VendorRequest.segment(userId))", body: .object(body)), command: command, target: target)
                return .succeeded(vendorUserId: userId, data: nil, vendorResponse: response)
            default:
                throw AdapterFailure(.unsupportedOperation, message: "asms has no '\(command.operation.rawValue)'")
            }
        }
    }

    /// POST; a `UserAlreadyExists` whose stored twin matches the command is a redelivery.
    private func create(_ command: ProvisioningCommand, target: ProvisioningTarget) async throws(AdapterFailure) -> AdapterOutcome {
        let user = try requireUser(command)
        let body = try Self.fields(of: user, creating: true, password: command.password)
        do {
            let (response, answer) = try await call(VendorRequest(.POST, "/api/v9/user", body: .object(body)), command: command, target: target)
            return .succeeded(vendorUserId: answer.objectValue?.anyCase("id")?.textValue, data: nil, vendorResponse: response)
        } catch let failure where failure.error.code == "UserAlreadyExists" {
            guard let userName = user.userName else { throw failure }
            let (response, stored) = try await call(VendorRequest(.GET, "/api/v9/user", query: [("userName", userName)]), command: command, target: target)
            let twin = stored.objectValue ?? [:]
            let same =
                matches(userName, twin.anyCase("userName")?.stringValue) && matches(body["Name"]?.stringValue, twin.anyCase("Name")?.stringValue)
                && matches(user.email, twin.anyCase("email")?.stringValue)
            guard same, let id = twin.anyCase("id")?.textValue else { throw failure }
            return .succeeded(vendorUserId: id, data: .object(["alreadyExisted": .bool(true)]), vendorResponse: response)
        }
    }

    private func changes(_ command: ProvisioningCommand) throws(AdapterFailure) -> [String: JSONValue] {
        switch command.operation {
        case .updateUser: try Self.fields(of: try requireUser(command), creating: false, password: nil)
        case .setUserStatus: ["Active": .integer(command.status == .inactive ? 0 : 1)]
        default: [:]
        }
    }

    /// Canonical user → ASMS fields, checked against ASMS's rules; on update only the mentioned ones.
    static func fields(of user: CanonicalUser, creating: Bool, password: Secret?) throws(AdapterFailure) -> [String: JSONValue] {
        var body: [String: JSONValue] = [:]
        if let active = user.active { body["Active"] = .integer(active ? 1 : 0) } else if creating { body["Active"] = .integer(1) }
        let fullName = [user.givenName, user.familyName].compactMap { $0 }.joined(separator: " ")
        body.set("Name", user.displayName ?? (fullName.isEmpty ? (creating ? user.userName : nil) : fullName))
        body.set("userName", user.userName)
        if let password = user.password ?? (creating ? password : nil) { body["password"] = .string(password.revealed) }
        body.set("email", user.email)
        if let birthDate = user.birthDate, let milliseconds = CalendarDate.unixMilliseconds(birthDate) { body["birthDate"] = .integer(milliseconds) }
        body.set("phone1", user.phone)
        body.set("Mobil", user.mobile)
        body.set("address1", user.address?.street1)
        body.set("address2", user.address?.street2)
        body.set("address3", user.address?.city)
        if let nationalId = user.documents?.nationalId?.revealed {
            guard let number = Int64(nationalId) else {
                throw AdapterFailure(.validation, message: "'user.documents.nationalId' must be digits only: ASMS keeps documentNumber as a number")
            }
            body["documentNumber"] = .integer(number)
        }

        let extensions = ExtensionFields(user, .asms)
        try extensions.onlyKeys(integerFields.union(stringFields).union(["projectId", "stateId", "consoleType", "registerType", "listAdditionalField"]))
        let rules: [(key: String, code: String)] = [("projectId", "InvalidProjectId"), ("stateId", "InvalidStateId")]
        for (key, code) in rules {
            if let value = try extensions.integer(key, code: code) {
                guard value > 0 else { throw extensions.invalid(key, "must be a positive number", code: code) }
                body[key] = .integer(value)
            } else if creating {
                throw extensions.invalid(key, "is required by ASMS", code: code)
            }
        }
        if let console = extensions.object["consoleType"], console != .null {
            guard let number = enumeration(console, names: ["specialist": 1, "client": 2, "administrator": 3]) else {
                throw extensions.invalid("consoleType", "must be specialist (1), client (2) or administrator (3)", code: "InvalidConsole")
            }
            body["consoleType"] = .integer(number)
        } else if creating {
            throw extensions.invalid("consoleType", "is required by ASMS", code: "InvalidConsole")
        }
        if let register = extensions.object["registerType"], register != .null {
            guard let number = enumeration(register, names: ["client": 37, "specialist": 53]) else {
                throw extensions.invalid("registerType", "must be client (37) or specialist (53)", code: "InvalidRegisterType")
            }
            body["registerType"] = .integer(number)
        } else if creating {
            throw extensions.invalid("registerType", "is required by ASMS", code: "InvalidRegisterType")
        }
        if let fields = try extensions.array("listAdditionalField") {
            body["listAdditionalField"] = .array(fields)
        } else if creating {
            body["listAdditionalField"] = .array([])
        }
        for key in integerFields { if let value = try extensions.integer(key) { body[key] = .integer(value) } }
        for key in stringFields { body.set(key, try extensions.string(key)) }
        if creating {
            guard body["userName"] != nil else { throw AdapterFailure(.validation, message: "ASMS needs 'user.userName'") }
            guard body["password"] != nil else { throw AdapterFailure(.validation, message: "ASMS needs a password ('user.password')") }
        }
        return body
    }

    static let integerFields: Set<String> = [
        "buildingId", "cityId", "companyId", "countryId", "departmentCode", "departmentNumber", "documentTypeId", "floorId", "jobId", "SiteId", "chiefId",
    ]
    static let stringFields: Set<String> = ["Ext", "fax", "guidLDAP", "phone2", "phone3"]
    /// Every field of the user record, as the adapter spells them.
    static let recordFields: [String] =
        [
            "Active", "Name", "userName", "projectId", "stateId", "listAdditionalField", "consoleType", "registerType", "address1", "address2",
            "address3", "birthDate", "documentNumber", "email", "Mobil", "phone1",
        ] + integerFields.sorted() + stringFields.sorted()

    /// A name (any case) or one of the numbers of an ASMS enumeration.
    static func enumeration(_ value: JSONValue, names: [String: Int64]) -> Int64? {
        if let number = vendorInteger(value), names.values.contains(number) { return number }
        if let name = value.stringValue { return names[name.lowercased()] }
        return nil
    }

    /// The stored record as `PUT` takes it back (names normalised, no id, no password).
    static func editable(_ stored: [String: JSONValue]) -> [String: JSONValue] {
        var body: [String: JSONValue] = [:]
        for key in recordFields {
            if let value = stored.anyCase(key), value != .null { body[key] = value }
        }
        return body
    }

    static func canonical(_ stored: [String: JSONValue]) -> CanonicalUser {
        var user = CanonicalUser()
        user.userName = stored.anyCase("userName")?.stringValue
        user.displayName = stored.anyCase("Name")?.stringValue
        user.email = stored.anyCase("email")?.stringValue
        user.active = vendorInteger(stored.anyCase("Active")).map { $0 != 0 } ?? stored.anyCase("Active")?.boolValue
        user.birthDate = vendorInteger(stored.anyCase("birthDate")).map(CalendarDate.fromUnixMilliseconds)
        user.phone = stored.anyCase("phone1")?.stringValue
        user.mobile = stored.anyCase("Mobil")?.stringValue
        let street1 = stored.anyCase("address1")?.stringValue
        let street2 = stored.anyCase("address2")?.stringValue
        let city = stored.anyCase("address3")?.stringValue
        if street1 != nil || street2 != nil || city != nil {
            user.address = CanonicalUser.Address(street1: street1, street2: street2, city: city)
        }
        var extensions: [String: JSONValue] = [:]
        for key in ["projectId", "stateId", "consoleType", "registerType", "listAdditionalField"] + integerFields.sorted() + stringFields.sorted() {
            if let value = stored.anyCase(key), value != .null { extensions[key] = value }
        }
        if !extensions.isEmpty { user.extensions = ["asms": .object(extensions)] }
        return user
    }

    private func call(_ request: VendorRequest, command: ProvisioningCommand, target: ProvisioningTarget) async throws(AdapterFailure) -> (
        VendorResponse, JSONValue
    ) {
        let response = try await http.sendAuthorized(
            target, tokens: tokens, fetch: { () async throws(AdapterFailure) in try await self.fetchToken(target) },
            authorize: { token in
                var request = request
                request.headers.append(("X-Authorization", .secret(Secret("Bearer \(token.revealed)"))))
                return request
            })
        let body = try interpret(response, operation: command.operation).get()
        return (VendorResponse(response), body)
    }

    private func fetchToken(_ target: ProvisioningTarget) async throws(AdapterFailure) -> Secret {
        let body: JSONValue = .object([
            "consoleType": .integer(1), "providerId": .integer(0),
            "userName": .string(target.credentials["username"]?.revealed ?? ""),
            "password": .string(target.credentials["password"]?.revealed ?? ""),
        ])
        let response = try await http.send(VendorRequest(.POST, "/api/v9/authentication", body: body), to: target)
        let answer = try interpret(response, operation: .getUser).get()
        guard let token = answer.objectValue?.anyCase("token")?.stringValue, !token.isEmpty else {
            throw AdapterFailure(.vendorError, message: "authentication answered without a token", after: response)
        }
        return Secret(token)
    }

    /// 2xx without `result: false` is success; otherwise the code is the body's `message`
    /// (`InvalidConsole`), read case-insensitively like ASMS's own fields.
    func interpret(_ response: VendorHTTPResponse, operation: Operation) -> Result<JSONValue, AdapterFailure> {
        let body = response.json?.objectValue
        if response.isSuccess, body?.anyCase("result")?.boolValue != false { return .success(response.json ?? .null) }
        guard let body else { return .failure(VendorErrorTable.statusFailure(response)) }
        let code = body.anyCase("message")?.stringValue ?? body.anyCase("error")?.stringValue ?? body.anyCase("code")?.textValue
        let message = body.anyCase("detail")?.stringValue ?? code
        return .failure(VendorErrorTable.failure(.asms, operation: operation, code: code, message: message, response: response))
    }
}

enum ASMS {
    /// Seed 004's codes, plus the guesses of docs/vendors.md.
    static let errorRules: [VendorErrorRule] = [
        .init(.asms, "FailureAddUser", .unavailable, retryable: true, "the user could not be added (HTTP 500)"),
        .init(.asms, "InvalidConsole", .validation, "unknown console type"),
        .init(.asms, "InvalidRegisterType", .validation, "unknown record type"),
        .init(.asms, "InvalidStateId", .validation, "unknown state"),
        .init(.asms, "InvalidProjectId", .validation, "unknown project"),
        .init(.asms, "InvalidAdditionalFieldValue", .validation, "an additional field's value is wrong"),
        .init(.asms, "AdditionalFieldIsRequired", .validation, "the project needs an additional field"),
        .init(.asms, "BadRequest", .validation, "a required field is missing (guess)"),
        .init(.asms, "UserAlreadyExists", .conflict, "the user name is taken (guess)"),
        .init(.asms, "UserNotFound", .notFound, "no user with that id (guess)"),
        .init(.asms, "InvalidToken", .unauthorized, "token missing or expired (guess)"),
        .init(.asms, "InvalidCredentials", .unauthorized, "the worker's credentials are wrong (guess)"),
    ]
}
