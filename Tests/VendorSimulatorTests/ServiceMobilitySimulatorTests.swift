import Foundation
import ProvisioningContract
import Testing
import VendorSimulators

@Suite("ServiceMobility simulator", .timeLimit(.minutes(10)))
struct ServiceMobilitySimulatorTests {
    static let user = #"""
        {"Activated":true,"Email":"jane@example.com","FirstName":"Jane","LastName":"Roe","LanguageCode":"en",
         "Password":"initial-pass","Phones":[{"PhoneNum":"+4312345","PhoneType":"Work"}],"Extensions":{"key1":"value1"}}
        """#

    @Test("GET of a missing user is 410; PUT inserts; GET shows an empty Password and AuthenticationID = UserID")
    func upsertAndGet() async throws {
        try await Harness.run { h in
            let token = try await h.smToken()
            let missing = try await h.sm("GET", "jane", token: token)
            #expect(missing.status == 410)
            #expect(missing["code"] == .integer(410))
            #expect(missing["detail"]?["message"]?.stringValue != nil)

            #expect(try await h.sm("PUT", "jane", token: token, body: Self.user).status == 200)
            let got = try await h.sm("GET", "jane", token: token)
            #expect(got.status == 200)
            #expect(got["UserID"] == .string("jane"))
            #expect(got["AuthenticationID"] == .string("jane"))
            #expect(got["Password"] == .string(""))
            #expect(got["Email"] == .string("jane@example.com"))
            #expect(got["Phones"]?.arrayValue?.first?["PhoneType"] == .string("Work"))
        }
    }

    @Test("PUT replaces the whole user but keeps the stored password when Password is empty or absent")
    func putReplacesKeepingPassword() async throws {
        try await Harness.run { h in
            let token = try await h.smToken()
            _ = try await h.sm("PUT", "jane", token: token, body: Self.user)
            #expect(try await h.sm("PUT", "jane", token: token, body: #"{"FirstName":"Janet","Password":""}"#).status == 200)
            let got = try await h.sm("GET", "jane", token: token)
            #expect(got["FirstName"] == .string("Janet"))
            #expect(got["Email"] == .string(""))
            #expect(h.simulator.users(.servicemobility).first?["Password"] == .string("initial-pass"))
        }
    }

    @Test("DELETE answers 200, then 410; bad data is 400 with dataPath; short ChangePassword and unknown teams are 400")
    func rules() async throws {
        try await Harness.run { h in
            let token = try await h.smToken()
            let badEmail = try await h.sm("PUT", "bob", token: token, body: #"{"Email":"not-an-email"}"#)
            #expect(badEmail.status == 400)
            #expect(badEmail["code"] == .integer(400))
            #expect(badEmail["detail"]?["dataPath"] == .string("/Email"))
            let badType = try await h.sm("PUT", "bob", token: token, body: #"{"Activated":"yes"}"#)
            #expect(badType["detail"]?["dataPath"] == .string("/Activated"))
            #expect(try await h.sm("PUT", "bob", token: token, body: #"{"ServiceTeamID":"mars"}"#).status == 400)

            _ = try await h.sm("PUT", "bob", token: token, body: #"{"Email":"bob@example.com"}"#)
            let short = try await h.sm("PUT", "bob/ChangePassword", token: token, body: #"{"Password":"short"}"#)
            #expect(short.status == 400)
            #expect(short["detail"]?["dataPath"] == .string("/Password"))
            #expect(try await h.sm("PUT", "bob/ChangePassword", token: token, body: #"{"Password":"long-enough"}"#).status == 200)
            #expect(h.simulator.users(.servicemobility).first?["Password"] == .string("long-enough"))

            #expect(try await h.sm("PUT", "bob/ServiceTeams", token: token, body: #"{"ServiceTeams":["north","pluto"]}"#).status == 400)
            #expect(try await h.sm("PUT", "bob/ServiceTeams", token: token, body: #"{"ServiceTeams":["north","east"]}"#).status == 200)
            #expect(h.simulator.users(.servicemobility).first?["ServiceTeams"] == .array([.string("north"), .string("east")]))
            #expect(try await h.sm("PUT", "bob/ResetPassword", token: token).status == 200)
            #expect(try await h.sm("PUT", "ghost/ResetPassword", token: token).status == 410)

            #expect(try await h.sm("DELETE", "bob", token: token).status == 200)
            #expect(try await h.sm("DELETE", "bob", token: token).status == 410)
        }
    }

    @Test("a bad logon is 401 Invalid Logon; calls without a valid token are 401")
    func credentialsRefused() async throws {
        try await Harness.run { h in
            let refused = try await h.call("POST", "/seiapi/v3/createjwt", body: #"{"username":"smadmin","password":"wrong"}"#)
            #expect(refused.status == 401)
            #expect(refused["detail"]?["message"] == .string("Invalid Logon"))
            #expect(try await h.call("GET", "/seiapi/v3/trans/User/jane").status == 401)
            #expect(try await h.sm("GET", "jane", token: "forged").status == 401)
            #expect(h.simulator.stats(.servicemobility).tokensIssued == 0)
        }
    }
}
