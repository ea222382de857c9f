import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ProvisioningContract
import Testing
import VendorSimulators

/// One answer as a client sees it.
struct Reply {
    var status: Int
    var headers: [String: String]
    var body: String

    var json: JSONValue? { try? JSONDecoder().decode(JSONValue.self, from: Data(body.utf8)) }
    subscript(key: String) -> JSONValue? { json?[key] }
}

/// A simulator on a free port for one test, and a small HTTP client for it.
struct Harness {
    let simulator: VendorSimulator
    let server: SimulatorServer

    static func run(
        _ simulator: VendorSimulator = VendorSimulator(), _ body: (Harness) async throws -> Void
    ) async throws {
        var logger = Logger(label: "simulator-tests")
        logger.logLevel = .warning
        try await SimulatorServer.withRunning(simulator, port: 0, logger: logger) { server in
            try await body(Harness(simulator: simulator, server: server))
        }
    }

    @discardableResult
    func call(
        _ method: String, _ path: String, headers: [String: String] = [:], body: String? = nil,
        timeout: TimeAmount = .seconds(10)
    ) async throws -> Reply {
        var request = HTTPClientRequest(url: server.baseURL + path)
        switch method {
        case "GET": request.method = .GET
        case "POST": request.method = .POST
        case "PUT": request.method = .PUT
        case "DELETE": request.method = .DELETE
        default: request.method = .PATCH
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            if headers["Content-Type"] == nil { request.headers.add(name: "Content-Type", value: "application/json") }
            request.body = .bytes(Array(body.utf8))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: timeout)
        let buffer = try await response.body.collect(upTo: 1 << 20)
        var fields: [String: String] = [:]
        for header in response.headers { fields[header.name.lowercased()] = header.value }
        return Reply(status: Int(response.status.code), headers: fields, body: String(buffer: buffer))
    }

    /// A JSON body from a Swift literal.
    static func json(_ value: JSONValue) -> String {
        String(decoding: try! JSONEncoder().encode(value), as: UTF8.self)
    }

    // MARK: Vendor helpers

    static let tecsAuth = ["Authorization": "Basic " + Data("User1:Password1".utf8).base64EncodedString()]

    func tecs(_ operation: String, _ body: String, auth: [String: String] = Harness.tecsAuth) async throws -> Reply {
        try await call("POST", "/usermanagement-backofficews/\(operation)", headers: auth, body: body)
    }

    static let uracKey = ["key": "urac-simulator-key"]
    static let uracTenant = "tId=5551aca9e179c39b760f7a1a&tCode=DBTN"

    /// A URAC call with the default key and access token; `query` without the token.
    func urac(
        _ method: String, _ route: String, query: String = "", body: String? = nil,
        headers: [String: String] = Harness.uracKey, timeout: TimeAmount = .seconds(10)
    ) async throws -> Reply {
        let separator = query.isEmpty ? "" : "&"
        return try await call(
            method, "/urac/admin/\(route)?\(query)\(separator)access_token=urac-simulator-token", headers: headers, body: body, timeout: timeout)
    }

    func uracAdd(_ fields: [String: JSONValue]) async throws -> Reply {
        try await urac("POST", "addUser", query: Harness.uracTenant, body: Harness.json(.object(fields)))
    }

    func smToken() async throws -> String {
        let reply = try await call("POST", "/seiapi/v3/createjwt", body: #"{"username":"smadmin","password":"smpassword"}"#)
        #expect(reply.status == 200)
        return try #require(reply["token"]?.stringValue)
    }

    func sm(_ method: String, _ path: String, token: String, body: String? = nil) async throws -> Reply {
        try await call(method, "/seiapi/v3/trans/User/\(path)", headers: ["x-access-token": token], body: body)
    }

    func asmsToken() async throws -> String {
        let reply = try await call(
            "POST", "/ASMSAPI/api/v9/authentication",
            body: #"{"consoleType":1,"providerId":0,"userName":"asmsadmin","password":"asmspassword"}"#
        )
        #expect(reply.status == 200)
        #expect(reply["renewToken"]?.stringValue != nil)
        return try #require(reply["token"]?.stringValue)
    }

    func asms(_ method: String, _ path: String, token: String, body: String? = nil) async throws -> Reply {
        try await call(method, "/ASMSAPI/api/v9/\(path)", headers: ["X-Authorization": "Bearer \(token)"], body: body)
    }
}
