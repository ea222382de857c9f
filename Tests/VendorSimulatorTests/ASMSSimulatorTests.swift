import Foundation
import ProvisioningContract
import Testing
import VendorSimulators

@Suite("ASMS simulator", .timeLimit(.minutes(10)))
struct ASMSSimulatorTests {
    /// The seed's body, as the seed document prints it.
    static let seed = """
        {
        "active": 1,
        "birthDate": 315122400000,
        "name": "nombre prueba once",
        "userName": "pruebamabc111",
        "consoleType": "Administrator",
        "registerType": "specialist",
        "projectId": 19,
        "stateId": 1,
        "email": "pruebamabc11@gmail.com", "password": "Aranda123",
        "listAdditionalField": []
        }
        """

    static func body(_ changes: [String: JSONValue] = [:]) -> String {
        var user: [String: JSONValue] = [
            "Active": .integer(1), "Name": .string("Ana Perez"), "userName": .string("aperez"), "password": .string("Secret123"),
            "projectId": .integer(1), "stateId": .integer(1), "listAdditionalField": .array([]),
            "consoleType": .integer(2), "registerType": .integer(37),
        ]
        for (key, value) in changes { user[key] = value == .null ? nil : value }
        return Harness.json(.object(user))
    }

    @Test("the seed's POST answers {\"id\": 4848, \"result\": true} after a reset, and ids count on from there")
    func seedExample() async throws {
        try await Harness.run { h in
            try await h.call("POST", "/_sim/reset")
            let token = try await h.asmsToken()
            let created = try await h.asms("POST", "user", token: token, body: Self.seed)
            #expect(created.status == 200)
            #expect(created.body == #"{"id":4848,"result":true}"#)
            #expect(try await h.asms("POST", "user", token: token, body: Self.body())["id"] == .integer(4849))

            let got = try await h.asms("GET", "user?id=4848", token: token)
            #expect(got["consoleType"] == .integer(3))
            #expect(got["registerType"] == .integer(53))
            #expect(got["userName"] == .string("pruebamabc111"))
            #expect(got["Name"] == .string("nombre prueba once"))
            #expect(got["password"] == nil)
            #expect(h.simulator.users(.asms).first?["password"] == .string("Aranda123"))

            try await h.call("POST", "/_sim/reset")
            let again = try await h.asms("POST", "user", token: try await h.asmsToken(), body: Self.seed)
            #expect(again["id"] == .integer(4848))
        }
    }

    @Test(
        "rules: InvalidConsole, InvalidRegisterType, InvalidProjectId, InvalidStateId, AdditionalFieldIsRequired, BadRequest, UserAlreadyExists, UserNotFound")
    func rules() async throws {
        try await Harness.run { h in
            let token = try await h.asmsToken()
            func expectError(_ body: String, _ code: String, status: Int = 400) async throws {
                let reply = try await h.asms("POST", "user", token: token, body: body)
                #expect(reply.status == status, "\(code)")
                #expect(
                    reply.json == .object(["result": .bool(false), "status": .string(status == 400 ? "BadRequest" : "NotFound"), "message": .string(code)]))
            }
            try await expectError(Self.body(["consoleType": .string("Wizard")]), "InvalidConsole")
            try await expectError(Self.body(["registerType": .integer(99)]), "InvalidRegisterType")
            try await expectError(Self.body(["projectId": .integer(7)]), "InvalidProjectId")
            try await expectError(Self.body(["stateId": .integer(9)]), "InvalidStateId")
            try await expectError(Self.body(["projectId": .integer(2)]), "AdditionalFieldIsRequired")
            try await expectError(Self.body(["password": .null]), "BadRequest")
            let withField = Self.body(["projectId": .integer(2), "listAdditionalField": .array([.object(["id": .integer(7), "value": .string("x")])])])
            #expect(try await h.asms("POST", "user", token: token, body: withField)["result"] == .bool(true))
            try await expectError(Self.body(["USERNAME": .string("APEREZ"), "userName": .null]), "UserAlreadyExists")

            let notFound = try await h.asms("GET", "user?id=1", token: token)
            #expect(notFound.status == 404)
            #expect(notFound["message"] == .string("UserNotFound"))
            #expect(try await h.asms("PUT", "user/1", token: token, body: Self.body()).status == 404)
        }
    }

    @Test("PUT replaces the record and keeps the password when none is sent")
    func putKeepsPassword() async throws {
        try await Harness.run { h in
            let token = try await h.asmsToken()
            let id = try #require(try await h.asms("POST", "user", token: token, body: Self.body(["email": .string("a@x.test")]))["id"]?.intValue)
            let updated = try await h.asms("PUT", "user/\(id)", token: token, body: Self.body(["password": .null, "Active": .integer(0)]))
            #expect(updated.status == 200)
            let got = try await h.asms("GET", "user?id=\(id)", token: token)
            #expect(got["Active"] == .integer(0))
            #expect(got["email"] == nil)
            #expect(h.simulator.users(.asms).first?["password"] == .string("Secret123"))
        }
    }

    @Test("a bad login is 401 InvalidCredentials; a missing or unknown token is 401 InvalidToken")
    func credentialsRefused() async throws {
        try await Harness.run { h in
            let refused = try await h.call(
                "POST", "/ASMSAPI/api/v9/authentication", body: #"{"consoleType":1,"providerId":0,"userName":"asmsadmin","password":"x"}"#)
            #expect(refused.status == 401)
            #expect(refused["message"] == .string("InvalidCredentials"))
            let noToken = try await h.call("POST", "/ASMSAPI/api/v9/user", body: Self.seed)
            #expect(noToken.status == 401)
            #expect(noToken["message"] == .string("InvalidToken"))
            #expect(try await h.asms("POST", "user", token: "forged", body: Self.seed).status == 401)
            #expect(h.simulator.users(.asms).isEmpty)
        }
    }
}
