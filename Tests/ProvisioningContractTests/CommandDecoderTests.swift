import Foundation
import ProvisioningContract
import Testing

@Suite("Command decoding and validation", .timeLimit(.minutes(10)))
struct CommandDecoderTests {
    static let sample = #"""
        {
          "schema": "provisioning.command/v1",
          "commandId": "7d0c6f0e-2a0b-4e7e-9a57-2f8f2b6c1d11",
          "correlationId": "order-42",
          "target": "tecs-test",
          "operation": "createUser",
          "user": {
            "userName": "john_doe", "email": "john@example.com", "givenName": "John", "familyName": "Doe",
            "birthDate": "2000-01-01", "phone": "+4991199009926", "active": true, "password": "s3cret-Pa55",
            "address": { "street1": "Potsdamer", "city": "Berlin", "postalCode": "10783", "country": "Germany" },
            "documents": { "nationalId": "19574328625", "passport": "VH488314" },
            "groups": ["waiter"],
            "extensions": { "asms": { "projectId": 19, "consoleType": "administrator" } }
          },
          "roles": [ { "name": "MP_CORPORATE", "scope": "4dbbab90-74f5-4d8d-92e1-d02e6a4a0dee" } ],
          "dryRun": false,
          "notAfter": "2026-11-23T10:05:00Z",
          "someFutureField": { "ignored": true }
        }
        """#

    @Test("the contract's sample command decodes, unknown top-level fields ignored")
    func sampleDecodes() throws {
        let command = try CommandDecoder.decode(Array(Self.sample.utf8)).get()
        #expect(command.commandId == "7d0c6f0e-2a0b-4e7e-9a57-2f8f2b6c1d11")
        #expect(command.correlationId == "order-42")
        #expect(command.target == "tecs-test")
        #expect(command.operation == .createUser)
        #expect(command.user?.email == "john@example.com")
        #expect(command.user?.address?.city == "Berlin")
        #expect(command.user?.password?.revealed == "s3cret-Pa55")
        #expect(command.user?.documents?.nationalId?.revealed == "19574328625")
        #expect(command.user?.extensions?["asms"]?["projectId"] == .integer(19))
        #expect(command.roles == [Role(name: "MP_CORPORATE", scope: "4dbbab90-74f5-4d8d-92e1-d02e6a4a0dee")])
        #expect(command.notAfter == Date(timeIntervalSince1970: 1_795_428_300))
        #expect(command.derivedKey == "tecs-test:john_doe")
    }

    @Test("secrets never show in descriptions or encodings")
    func secretsStaySecret() throws {
        let command = try CommandDecoder.decode(Array(Self.sample.utf8)).get()
        let rendered = "\(command) \(String(reflecting: command))"
        #expect(!rendered.contains("s3cret-Pa55"))
        #expect(!rendered.contains("19574328625"))
        let encoded = String(decoding: try JSONEncoder().encode(command.user), as: UTF8.self)
        #expect(!encoded.contains("s3cret-Pa55") && !encoded.contains("VH488314"))
    }

    struct Malformed: CustomTestStringConvertible, Sendable {
        let name: String
        let value: [UInt8]?
        /// The `commandId` the reply can carry, if any.
        let commandId: String?
        /// The field the message must name, if one is to blame.
        let field: String?
        var testDescription: String { name }

        init(_ name: String, _ json: String, commandId: String? = "c-1", field: String?) {
            self.init(name, Array(json.utf8), commandId: commandId, field: field)
        }

        init(_ name: String, _ value: [UInt8]?, commandId: String?, field: String?) {
            self.name = name
            self.value = value
            self.commandId = commandId
            self.field = field
        }
    }

    static let malformed: [Malformed] = [
        Malformed("not JSON", "create user please", commandId: nil, field: nil),
        Malformed("a JSON array", #"[{"commandId":"c-1"}]"#, commandId: nil, field: nil),
        Malformed("a JSON string", #""createUser""#, commandId: nil, field: nil),
        Malformed("empty value", [], commandId: nil, field: nil),
        Malformed("null value (tombstone)", nil, commandId: nil, field: nil),
        Malformed("invalid UTF-8", [0x7B, 0x22, 0xC3, 0x28, 0x22, 0x7D], commandId: nil, field: nil),
        Malformed(
            "a 2 MiB value", Array(("{\"commandId\":\"c-1\",\"pad\":\"" + String(repeating: "x", count: 2 << 20) + "\"}").utf8), commandId: nil, field: nil),
        Malformed("missing commandId", #"{"target":"tecs-test","operation":"getUser","userId":"u"}"#, commandId: nil, field: "commandId"),
        Malformed("empty commandId", #"{"commandId":"","target":"tecs-test","operation":"getUser","userId":"u"}"#, commandId: "", field: "commandId"),
        Malformed(
            "over-long commandId", "{\"commandId\":\"\(String(repeating: "a", count: 129))\",\"target\":\"t\",\"operation\":\"getUser\",\"userId\":\"u\"}",
            commandId: String(repeating: "a", count: 129), field: "commandId"),
        Malformed("commandId a number", #"{"commandId":42,"target":"tecs-test","operation":"getUser","userId":"u"}"#, commandId: nil, field: "commandId"),
        Malformed("unknown operation", #"{"commandId":"c-1","target":"tecs-test","operation":"eraseEverything","userId":"u"}"#, field: "operation"),
        Malformed("missing target", #"{"commandId":"c-1","operation":"getUser","userId":"u"}"#, field: "target"),
        Malformed("dryRun a string", #"{"commandId":"c-1","target":"tecs-test","operation":"getUser","userId":"u","dryRun":"yes"}"#, field: "dryRun"),
        Malformed("user an array", #"{"commandId":"c-1","target":"tecs-test","operation":"createUser","user":[]}"#, field: "user"),
        Malformed("createUser without user", #"{"commandId":"c-1","target":"tecs-test","operation":"createUser"}"#, field: "user"),
        Malformed(
            "updateUser without userId", #"{"commandId":"c-1","target":"tecs-test","operation":"updateUser","user":{"email":"a@b.de"}}"#, field: "userId"),
        Malformed("assignRoles without roles", #"{"commandId":"c-1","target":"tecs-test","operation":"assignRoles","userId":"u"}"#, field: "roles"),
        Malformed(
            "a role without a name", #"{"commandId":"c-1","target":"tecs-test","operation":"assignRoles","userId":"u","roles":[{"scope":"x"}]}"#,
            field: "roles[0].name"),
        Malformed(
            "groups with a number", #"{"commandId":"c-1","target":"urac-test","operation":"assignGroups","userId":"u","groups":["a",7]}"#, field: "groups[1]"),
        Malformed(
            "a bad email", #"{"commandId":"c-1","target":"tecs-test","operation":"createUser","user":{"email":"john.example.com"}}"#, field: "user.email"),
        Malformed(
            "a bad birth date", #"{"commandId":"c-1","target":"tecs-test","operation":"createUser","user":{"email":"a@b.de","birthDate":"01.01.2000"}}"#,
            field: "user.birthDate"),
        Malformed(
            "a status that is neither", #"{"commandId":"c-1","target":"tecs-test","operation":"setUserStatus","userId":"u","status":"asleep"}"#, field: "status"
        ),
        Malformed(
            "an unknown schema version", #"{"schema":"provisioning.command/v2","commandId":"c-1","target":"tecs-test","operation":"getUser","userId":"u"}"#,
            field: "schema"),
        Malformed(
            "notAfter not a time", #"{"commandId":"c-1","target":"tecs-test","operation":"getUser","userId":"u","notAfter":"tomorrow"}"#, field: "notAfter"),
        Malformed(
            "an extension not an object",
            #"{"commandId":"c-1","target":"asms-test","operation":"createUser","user":{"email":"a@b.de","extensions":{"asms":3}}}"#,
            field: "user.extensions.asms"),
    ]

    @Test("malformed input is rejected with the readable commandId and a message naming the field", arguments: malformed)
    func rejects(_ input: Malformed) {
        switch CommandDecoder.decode(input.value) {
        case .success(let command):
            Issue.record("accepted: \(command)")
        case .failure(let rejection):
            #expect(rejection.commandId == input.commandId)
            #expect(rejection.field == input.field)
            if let field = input.field { #expect(rejection.message.contains(field), "\(rejection.message)") }
            #expect(!rejection.message.isEmpty)
        }
    }

    @Test("every operation's required fields are enforced, and each is accepted when present")
    func requiredFields() throws {
        let full =
            #"{"commandId":"c","target":"t","operation":"OP","userId":"u","user":{"email":"a@b.de"},"roles":[{"name":"r"}],"groups":["g"],"status":"active","password":"p"}"#
        for operation in Operation.allCases {
            let json = full.replacingOccurrences(of: "OP", with: operation.rawValue)
            #expect(throws: Never.self) { try CommandDecoder.decode(Array(json.utf8)).get() }
        }
    }

    @Test("randomly mangled commands never crash the decoder")
    func mangledInputs() {
        var generator = SystemRandomNumberGenerator()
        let base = Array(Self.sample.utf8)
        for _ in 0..<2000 {
            var bytes = base
            for _ in 0..<Int.random(in: 1...8, using: &generator) {
                let index = Int.random(in: 0..<bytes.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: bytes[index] = UInt8.random(in: 0...255, using: &generator)
                case 1: bytes.remove(at: index)
                default: bytes.insert(UInt8.random(in: 0x20...0x7E, using: &generator), at: index)
                }
            }
            // Either outcome is fine; what matters is an answer, never a crash.
            switch CommandDecoder.decode(bytes) {
            case .success(let command): #expect(!command.commandId.isEmpty)
            case .failure(let rejection): #expect(!rejection.message.isEmpty)
            }
        }
    }
}
