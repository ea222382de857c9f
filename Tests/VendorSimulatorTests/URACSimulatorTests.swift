import Foundation
import ProvisioningContract
import Testing
import VendorSimulators

@Suite("URAC simulator", .timeLimit(.minutes(10)))
struct URACSimulatorTests {
    static let john: [String: JSONValue] = [
        "username": .string("john"), "firstName": .string("John"), "lastName": .string("Doe"), "email": .string("johndoe@domain.com"),
    ]

    func code(_ reply: Reply) -> Int? { reply["errors"]?["codes"]?.arrayValue?.first?.intValue }

    @Test("the seed's form-encoded addUser answers result true with a 24-hex id and a token, the same id after a reset")
    func seedFormAddUser() async throws {
        try await Harness.run { h in
            let form = ["Content-Type": "application/x-www-form-urlencoded", "key": "urac-simulator-key"]
            let body = "username=john&firstName=John&lastName=Doe&email=johndoe@domain.com"
            let added = try await h.urac("POST", "addUser", query: Harness.uracTenant, body: body, headers: form)
            #expect(added.status == 200)
            #expect(added["result"] == .bool(true))
            let id = try #require(added["data"]?["id"]?.stringValue)
            #expect(id.count == 24 && id.allSatisfy { $0.isHexDigit && !$0.isUppercase })
            #expect(added["data"]?["token"]?.stringValue?.isEmpty == false)
            #expect(h.simulator.users(.urac).first?["status"] == .string("pendingNew"))

            let got = try await h.urac("GET", "getUser", query: "uId=\(id)")
            #expect(got["data"]?["username"] == .string("john"))
            #expect(got["data"]?["tenant"]?["code"] == .string("DBTN"))

            try await h.call("POST", "/_sim/reset")
            let again = try await h.urac("POST", "addUser", query: Harness.uracTenant, body: body, headers: form)
            #expect(again["data"]?["id"]?.stringValue == id)
        }
    }

    @Test("JSON addUser with a stringified profile, groups and a password; getUser never shows the password")
    func jsonAddAndGet() async throws {
        try await Harness.run { h in
            var fields = Self.john
            fields["profile"] = .string(#"{"age":30}"#)
            fields["groups"] = .array([.string("owner")])
            fields["password"] = .string("s3cret-pass")
            fields["confirmation"] = .string("s3cret-pass")
            let added = try await h.uracAdd(fields)
            let id = try #require(added["data"]?["id"]?.stringValue)
            let user = try #require(try await h.urac("GET", "getUser", query: "uId=\(id)")["data"])
            #expect(user["_id"] == .string(id))
            #expect(user["profile"]?["age"] == .integer(30))
            #expect(user["groups"] == .array([.string("owner")]))
            #expect(user["status"] == .string("active"))
            #expect(user["password"] == nil)
            #expect(h.simulator.users(.urac).first?["password"] == .string("s3cret-pass"))
            let listed = try await h.urac("GET", "listUsers", query: "tId=5551aca9e179c39b760f7a1a&keywords=john")
            #expect(listed["data"]?.arrayValue?.count == 1)
        }
    }

    @Test("addUser rules: 402 duplicate, 611 tenant, 415 group, 408 confirmation, 424 status, 413 profile, 172 missing")
    func addUserRules() async throws {
        try await Harness.run { h in
            _ = try await h.uracAdd(Self.john)
            let duplicate = try await h.uracAdd(Self.john)
            #expect(duplicate.status == 200)
            #expect(duplicate.body == #"{"result":false,"errors":{"codes":[402],"details":[{"code":402,"message":"User account already exists."}]}}"#)
            var sameEmail = Self.john
            sameEmail["username"] = .string("johnny")
            #expect(code(try await h.uracAdd(sameEmail)) == 402)

            var fresh = Self.john
            fresh["username"] = .string("mary")
            fresh["email"] = .string("mary@domain.com")
            let badTenant = try await h.urac("POST", "addUser", query: "tId=000000000000000000000000&tCode=DBTN", body: Harness.json(.object(fresh)))
            #expect(code(badTenant) == 611)

            var group = fresh
            group["groups"] = .array([.string("astronaut")])
            #expect(code(try await h.uracAdd(group)) == 415)

            var mismatch = fresh
            mismatch["password"] = .string("one-password")
            mismatch["confirmation"] = .string("two-password")
            #expect(code(try await h.uracAdd(mismatch)) == 408)

            var pendingWithPassword = fresh
            pendingWithPassword["password"] = .string("one-password")
            pendingWithPassword["confirmation"] = .string("one-password")
            pendingWithPassword["status"] = .string("pendingNew")
            #expect(code(try await h.uracAdd(pendingWithPassword)) == 424)
            var activeWithout = fresh
            activeWithout["status"] = .string("active")
            #expect(code(try await h.uracAdd(activeWithout)) == 424)

            var objectProfile = fresh
            objectProfile["profile"] = .object(["age": .integer(30)])
            #expect(code(try await h.uracAdd(objectProfile)) == 413)

            var noEmail = fresh
            noEmail["email"] = nil
            #expect(code(try await h.uracAdd(noEmail)) == 172)
            #expect(h.simulator.users(.urac).count == 1)
        }
    }

    @Test("editUser: left-out groups are cleared, 172 missing field, 410 username taken, 412 email taken, 411 bad id, 405 unknown id, 500 locked")
    func editUserRules() async throws {
        try await Harness.run { h in
            var first = Self.john
            first["groups"] = .array([.string("owner"), .string("guest")])
            let id = try #require(try await h.uracAdd(first)["data"]?["id"]?.stringValue)
            let other: [String: JSONValue] = [
                "username": .string("mary"), "firstName": .string("Mary"), "lastName": .string("Roe"), "email": .string("mary@domain.com"),
            ]
            _ = try await h.uracAdd(other)

            let edit: [String: JSONValue] = [
                "username": .string("john"), "firstName": .string("Johnny"), "lastName": .string("Doe"), "email": .string("johndoe@domain.com"),
                "status": .string("inactive"),
            ]
            let edited = try await h.urac("POST", "editUser", query: "uId=\(id)", body: Harness.json(.object(edit)))
            #expect(edited.body == #"{"result":true,"data":true}"#)
            let user = try #require(try await h.urac("GET", "getUser", query: "uId=\(id)")["data"])
            #expect(user["firstName"] == .string("Johnny"))
            #expect(user["status"] == .string("inactive"))
            #expect(user["groups"] == .array([]))

            var missing = edit
            missing["status"] = nil
            #expect(code(try await h.urac("POST", "editUser", query: "uId=\(id)", body: Harness.json(.object(missing)))) == 172)
            var taken = edit
            taken["username"] = .string("mary")
            #expect(code(try await h.urac("POST", "editUser", query: "uId=\(id)", body: Harness.json(.object(taken)))) == 410)
            var email = edit
            email["email"] = .string("mary@domain.com")
            #expect(code(try await h.urac("POST", "editUser", query: "uId=\(id)", body: Harness.json(.object(email)))) == 412)
            #expect(code(try await h.urac("POST", "editUser", query: "uId=123", body: Harness.json(.object(edit)))) == 411)
            #expect(code(try await h.urac("GET", "getUser", query: "uId=aaaaaaaaaaaaaaaaaaaaaaaa")) == 405)

            try await h.call("POST", "/_sim/urac/lock", body: #"{"uId":"\#(id)"}"#)
            #expect(code(try await h.urac("POST", "editUser", query: "uId=\(id)", body: Harness.json(.object(edit)))) == 500)
            #expect(code(try await h.urac("DELETE", "user/delete", query: "uId=\(id)")) == 500)
        }
    }

    @Test("deleteUser removes the user; a second delete is 405")
    func deleteUser() async throws {
        try await Harness.run { h in
            let id = try #require(try await h.uracAdd(Self.john)["data"]?["id"]?.stringValue)
            #expect(try await h.urac("DELETE", "user/delete", query: "uId=\(id)")["result"] == .bool(true))
            #expect(code(try await h.urac("DELETE", "user/delete", query: "uId=\(id)")) == 405)
        }
    }

    @Test("a wrong key is HTTP 403 code 132, a missing access_token HTTP 401 code 158")
    func credentialsRefused() async throws {
        try await Harness.run { h in
            let wrongKey = try await h.urac("POST", "addUser", query: Harness.uracTenant, body: Harness.json(.object(Self.john)), headers: ["key": "nope"])
            #expect(wrongKey.status == 403)
            #expect(code(wrongKey) == 132)
            let noToken = try await h.call(
                "POST", "/urac/admin/addUser?\(Harness.uracTenant)", headers: Harness.uracKey, body: Harness.json(.object(Self.john)))
            #expect(noToken.status == 401)
            #expect(code(noToken) == 158)
            #expect(h.simulator.users(.urac).isEmpty)
        }
    }

    @Test("PUT /_sim/urac errorStatus 500 answers errors with HTTP 500 (soajs 3.x); gateway codes keep 403/401")
    func errorStatus500() async throws {
        try await Harness.run { h in
            let set = try await h.call("PUT", "/_sim/urac", body: #"{"errorStatus":500}"#)
            #expect(set.status == 200)
            _ = try await h.uracAdd(Self.john)
            let duplicate = try await h.uracAdd(Self.john)
            #expect(duplicate.status == 500)
            #expect(code(duplicate) == 402)
            #expect(try await h.urac("GET", "getUser", query: "uId=1", headers: ["key": "bad"]).status == 403)
            #expect(try await h.call("PUT", "/_sim/urac", body: #"{"errorStatus":302}"#).status == 400)
        }
    }
}
