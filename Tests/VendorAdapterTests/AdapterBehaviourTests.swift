import Foundation
import Provisioning
import ProvisioningContract
import Testing
import VendorAdapters
import VendorSimulators

@Suite("Adapters against the simulators", .timeLimit(.minutes(10)))
struct AdapterBehaviourTests {
    // MARK: tokens

    @Test("an expired token is renewed once and the call succeeds", arguments: [VendorKind.servicemobility, .asms])
    func tokenRenewal(_ vendor: VendorKind) async throws {
        try await Vendors.with { vendors in
            let simulated = SimulatedVendor(rawValue: vendor.rawValue)!
            let create =
                vendor == .asms
                ? #"{"commandId":"c","target":"t","operation":"createUser","user":{"userName":"ana","password":"Aranda123","extensions":{"asms":{"projectId":19,"stateId":1,"consoleType":1,"registerType":53}}}}"#
                : #"{"commandId":"c","target":"t","operation":"createUser","user":{"userName":"ana","email":"ana@example.com"}}"#
            #expect(await vendors.perform(try command(create), on: vendor).succeeded)
            #expect(vendors.simulator.stats(simulated).tokensIssued == 1)
            vendors.simulator.expireTokens(simulated)
            let userId = vendor == .asms ? "4848" : "ana"
            let read = await vendors.perform(try command(#"{"commandId":"r","target":"t","operation":"getUser","userId":"\#(userId)"}"#), on: vendor)
            #expect(read.succeeded)
            #expect(read.data?["user"]?["userName"] == .string("ana"))
            #expect(vendors.simulator.stats(simulated).tokensIssued == 2)
        }
    }

    @Test("concurrent commands share one token")
    func sharedToken() async throws {
        try await Vendors.with { vendors in
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<20 {
                    let json =
                        #"{"commandId":"c\#(index)","target":"t","operation":"createUser","user":{"userName":"u\#(index)","email":"u\#(index)@example.com"}}"#
                    group.addTask { await vendors.perform(try command(json), on: .servicemobility).succeeded }
                }
                for try await succeeded in group { #expect(succeeded) }
            }
            #expect(vendors.simulator.stats(.servicemobility).tokensIssued == 1)
            #expect(vendors.users(.servicemobility).count == 20)
        }
    }

    // MARK: merged updates

    @Test("URAC: a partial update, a status change and a password change keep groups, profile and names")
    func uracMerged() async throws {
        try await Vendors.with { vendors in
            let created = await vendors.perform(
                try command(
                    """
                    {"commandId":"c","target":"t","operation":"createUser","user":{"userName":"john","email":"john@example.com","givenName":"John","familyName":"Doe",
                     "password":"s3cret-Pa55","groups":["waiter","manager"],"extensions":{"urac":{"profile":{"shift":"early"}}}}}
                    """), on: .urac)
            let id = try #require(created.vendorUserId)
            for json in [
                #"{"commandId":"u","target":"t","operation":"updateUser","userId":"\#(id)","user":{"familyName":"Doe-Smith"}}"#,
                #"{"commandId":"s","target":"t","operation":"setUserStatus","userId":"\#(id)","status":"inactive"}"#,
                #"{"commandId":"p","target":"t","operation":"changePassword","userId":"\#(id)","password":"n3w-Secret-1"}"#,
            ] {
                #expect(await vendors.perform(try command(json), on: .urac).succeeded, "\(json)")
            }
            let stored = try #require(vendors.users(.urac).first)
            #expect(stored["lastName"] == .string("Doe-Smith"))
            #expect(stored["firstName"] == .string("John"))
            #expect(stored["email"] == .string("john@example.com"))
            #expect(stored["groups"] == .array([.string("waiter"), .string("manager")]))
            #expect(stored["profile"]?["shift"] == .string("early"))
            #expect(stored["status"] == .string("inactive"))
            #expect(stored["password"] == .string("n3w-Secret-1"))

            // assignGroups replaces the set and nothing else.
            #expect(
                await vendors.perform(
                    try command(#"{"commandId":"g","target":"t","operation":"assignGroups","userId":"\#(id)","groups":["guest"]}"#), on: .urac
                ).succeeded)
            let regrouped = try #require(vendors.users(.urac).first)
            #expect(regrouped["groups"] == .array([.string("guest")]))
            #expect(regrouped["lastName"] == .string("Doe-Smith"))
            #expect(regrouped["profile"]?["shift"] == .string("early"))
        }
    }

    @Test("ServiceMobility: updates keep phones, service team, extensions and the password")
    func serviceMobilityMerged() async throws {
        try await Vendors.with { vendors in
            #expect(
                await vendors.perform(
                    try command(
                        """
                        {"commandId":"c","target":"t","operation":"createUser","user":{"userName":"jdoe","email":"jdoe@example.com","givenName":"John","familyName":"Doe",
                         "password":"s3cret-Pa55","phone":"+4991199009926","mobile":"+4917612345678","locale":"de",
                         "extensions":{"servicemobility":{"ServiceTeamID":"north","IsMobileWorker":true,"Extensions":{"badge":"42"}}}}}
                        """), on: .servicemobility
                ).succeeded)
            let before = try #require(vendors.users(.servicemobility).first)
            #expect(
                await vendors.perform(
                    try command(#"{"commandId":"u","target":"t","operation":"updateUser","userId":"jdoe","user":{"familyName":"Doe-Smith"}}"#),
                    on: .servicemobility
                ).succeeded)
            #expect(
                await vendors.perform(
                    try command(#"{"commandId":"s","target":"t","operation":"setUserStatus","userId":"jdoe","status":"inactive"}"#), on: .servicemobility
                ).succeeded)
            let after = try #require(vendors.users(.servicemobility).first)
            #expect(after["LastName"] == .string("Doe-Smith"))
            #expect(after["Activated"] == .bool(false))
            for field in ["FirstName", "Email", "Phones", "ServiceTeamID", "IsMobileWorker", "Extensions", "LanguageCode", "Password", "AuthenticationID"] {
                #expect(after[field] == before[field], "\(field)")
            }
            #expect(after["Password"] == .string("s3cret-Pa55"))
        }
    }

    @Test("ASMS: updates keep project, state, console and the rest")
    func asmsMerged() async throws {
        try await Vendors.with { vendors in
            #expect(
                await vendors.perform(
                    try command(
                        """
                        {"commandId":"c","target":"t","operation":"createUser","user":{"userName":"ana","displayName":"Ana Lopez","email":"ana@example.com","password":"Aranda123",
                         "mobile":"+573001234567","extensions":{"asms":{"projectId":19,"stateId":2,"consoleType":"client","registerType":"client","jobId":7}}}}
                        """), on: .asms
                ).succeeded)
            let before = try #require(vendors.users(.asms).first)
            #expect(
                await vendors.perform(
                    try command(#"{"commandId":"u","target":"t","operation":"updateUser","userId":"4848","user":{"email":"ana.lopez@example.com"}}"#), on: .asms
                ).succeeded)
            #expect(
                await vendors.perform(
                    try command(#"{"commandId":"s","target":"t","operation":"setUserStatus","userId":"4848","status":"inactive"}"#), on: .asms
                ).succeeded)
            let after = try #require(vendors.users(.asms).first)
            #expect(after["email"] == .string("ana.lopez@example.com"))
            #expect(after["Active"] == .integer(0))
            for field in ["Name", "userName", "projectId", "stateId", "consoleType", "registerType", "jobId", "Mobil", "password"] {
                #expect(after[field] == before[field], "\(field)")
            }
        }
    }

    @Test("TECS: updateConsumer sends only the mentioned fields")
    func tecsPartial() async throws {
        try await Vendors.with { vendors in
            #expect(
                await vendors.perform(
                    try command(
                        #"{"commandId":"c","target":"t","operation":"createUser","user":{"userName":"u1","email":"u1@example.com","givenName":"Ute","familyName":"Ulm","phone":"+491"}}"#
                    ), on: .tecs
                ).succeeded)
            #expect(
                await vendors.perform(try command(#"{"commandId":"u","target":"t","operation":"updateUser","userId":"u1","user":{"phone":"+492"}}"#), on: .tecs)
                    .succeeded)
            let stored = try #require(vendors.users(.tecs).first)
            #expect(stored["phone"] == .string("+492"))
            #expect(stored["firstName"] == .string("Ute"))
            #expect(stored["email"] == .string("u1@example.com"))
        }
    }

    // MARK: creates

    @Test("ServiceMobility createUser never overwrites a different user: conflict, left unchanged")
    func serviceMobilityConflict() async throws {
        try await Vendors.with { vendors in
            #expect(
                await vendors.perform(
                    try command(
                        #"{"commandId":"c","target":"t","operation":"createUser","user":{"userName":"jdoe","email":"jdoe@example.com","givenName":"John"}}"#),
                    on: .servicemobility
                ).succeeded)
            let before = vendors.users(.servicemobility)
            let other = await vendors.perform(
                try command(
                    #"{"commandId":"d","target":"t","operation":"createUser","user":{"userName":"jdoe","email":"else@example.com","givenName":"Else"}}"#),
                on: .servicemobility)
            #expect(other.failure?.error.category == .conflict)
            #expect(other.vendorResponse?.httpStatus == 200)
            #expect(vendors.users(.servicemobility) == before)
        }
    }

    @Test("a redelivered createUser finds its own user and succeeds with the same id", arguments: VendorKind.allCases)
    func redeliveredCreate(_ vendor: VendorKind) async throws {
        try await Vendors.with { vendors in
            let json: String =
                switch vendor {
                case .asms:
                    #"{"commandId":"c","target":"t","operation":"createUser","user":{"userName":"ana","email":"ana@example.com","password":"Aranda123","extensions":{"asms":{"projectId":19,"stateId":1,"consoleType":1,"registerType":53}}}}"#
                default:
                    #"{"commandId":"c","target":"t","operation":"createUser","user":{"userName":"ana","email":"ana@example.com","givenName":"Ana","familyName":"Lopez","password":"s3cret-Pa55"}}"#
                }
            let first = await vendors.perform(try command(json), on: vendor)
            let second = await vendors.perform(try command(json), on: vendor)
            #expect(first.succeeded)
            #expect(second.succeeded)
            #expect(second.vendorUserId == first.vendorUserId)
            #expect(second.data?["alreadyExisted"] == .bool(true))
            #expect(vendors.users(SimulatedVendor(rawValue: vendor.rawValue)!).count == 1)

            // Another person under the same name is a conflict, not a success.
            let other = json.replacingOccurrences(of: "ana@example.com", with: "someone@example.com")
            #expect(await vendors.perform(try command(other), on: vendor).failure?.error.category == .conflict)
        }
    }

    // MARK: before any call

    @Test("vendor rules on extensions are checked before any call, with the vendor's code where it has one")
    func extensionRules() async throws {
        try await Vendors.with { vendors in
            let cases: [(VendorKind, String, String)] = [
                (
                    .asms, #"{"userName":"a","password":"p","extensions":{"asms":{"projectId":19,"stateId":1,"consoleType":"Boss","registerType":53}}}"#,
                    "InvalidConsole"
                ),
                (
                    .asms, #"{"userName":"a","password":"p","extensions":{"asms":{"projectId":19,"stateId":1,"consoleType":1,"registerType":"visitor"}}}"#,
                    "InvalidRegisterType"
                ),
                (.asms, #"{"userName":"a","password":"p","extensions":{"asms":{"stateId":1,"consoleType":1,"registerType":53}}}"#, "InvalidProjectId"),
                (
                    .asms,
                    #"{"userName":"a","password":"p","extensions":{"asms":{"projectId":19,"stateId":1,"consoleType":1,"registerType":53,"shoeSize":44}}}"#,
                    "VALIDATION"
                ),
                (.servicemobility, #"{"userName":"a","extensions":{"servicemobility":{"IsMobileWorker":"yes"}}}"#, "VALIDATION"),
                (.urac, #"{"userName":"a","email":"a@example.com","extensions":{"urac":{"pin":{"code":1235}}}}"#, "VALIDATION"),
                (.tecs, #"{"email":"a@example.com","extensions":{"tecs":{"favouriteColour":"red"}}}"#, "VALIDATION"),
            ]
            for (vendor, user, code) in cases {
                let json = #"{"commandId":"c","target":"t","operation":"createUser","user":\#(user)}"#
                let outcome = await vendors.perform(try command(json), on: vendor)
                #expect(outcome.failure?.error.category == .validation, "\(vendor) \(user)")
                #expect(outcome.failure?.error.code == code, "\(vendor) \(user)")
                #expect(outcome.failure?.error.message.contains("user.extensions") == true || code == "VALIDATION")
                #expect(outcome.vendorResponse == nil)
                // Nothing was sent: dry runs report the same.
                let planned = vendors.adapters[vendor]!.plan(try command(json), for: vendors.target(vendor))
                #expect(planned.failure?.error.code == code)
            }
            for vendor in SimulatedVendor.allCases { #expect(vendors.simulator.stats(vendor).calls == 0, "\(vendor)") }
        }
    }

    @Test("a user id with a slash, spaces, '&' and non-ASCII letters reaches the vendor as one id, in paths and queries")
    func awkwardUserIds() async throws {
        try await Vendors.with { vendors in
            let name = "ana maria/ü&x=1?#%"
            let create =
                #"{"commandId":"c","target":"t","operation":"createUser","user":{"userName":"\#(name)","email":"ana@example.com","givenName":"Ana","familyName":"M","password":"Top-Secret-9"}}"#
            let created = await vendors.perform(try command(create), on: .servicemobility)
            #expect(created.failure == nil, "\(String(describing: created.failure))")
            #expect(vendors.users(.servicemobility).compactMap { $0["UserID"]?.stringValue } == [name], "stored under the whole id, not a sub-path")
            let read = await vendors.perform(try command(#"{"commandId":"g","target":"t","operation":"getUser","userId":"\#(name)"}"#), on: .servicemobility)
            #expect(read.failure == nil, "read back by the same id")

            // ASMS puts the id in the path of an update and in the query of a read.
            let update = #"{"commandId":"u","target":"t","operation":"updateUser","userId":"\#(name)","user":{"email":"b@example.com"}}"#
            let planned = try vendors.adapters[.asms]!.plan(try command(update), for: vendors.target(.asms)).get()
            #expect(planned["url"]?.stringValue == vendors.server.baseURL + "/ASMSAPI/api/v9/user/ana%20maria%2F%C3%BC&x=1%3F%23%25")
            let get = try vendors.adapters[.asms]!.plan(
                try command(#"{"commandId":"g","target":"t","operation":"getUser","userId":"\#(name)"}"#), for: vendors.target(.asms)
            ).get()
            #expect(get["url"]?.stringValue == vendors.server.baseURL + "/ASMSAPI/api/v9/user?id=ana%20maria%2F%C3%BC%26x%3D1%3F%23%25")
        }
    }

    @Test("a dry run shows the request with every secret redacted and calls nothing", arguments: VendorKind.allCases)
    func dryRun(_ vendor: VendorKind) async throws {
        try await Vendors.with { vendors in
            let extensions = vendor == .asms ? #","extensions":{"asms":{"projectId":19,"stateId":1,"consoleType":1,"registerType":53}}"# : ""
            let json = """
                {"commandId":"c","target":"t","operation":"createUser","dryRun":true,"user":{"userName":"ana","email":"ana@example.com","password":"Top-Secret-9",
                 "documents":{"nationalId":"19574328625","passport":"VH488314"}\(extensions)}}
                """
            let planned = try vendors.adapters[vendor]!.plan(try command(json), for: vendors.target(vendor)).get()
            let text = String(decoding: try JSONEncoder().encode(planned), as: UTF8.self)
            #expect(planned["method"] != nil)
            #expect(planned["url"]?.stringValue?.hasPrefix(vendors.server.baseURL) == true)
            for secret in ["Top-Secret-9", "19574328625", "VH488314", "Password1", "urac-simulator-key", "urac-simulator-token", "VXNlcjE6UGFzc3dvcmQx"] {
                #expect(!text.contains(secret), "\(vendor) leaks \(secret)")
            }
            #expect(text.contains("<redacted>"))
            #expect(vendors.simulator.stats(SimulatedVendor(rawValue: vendor.rawValue)!).calls == 0)
        }
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let failure) = self { return failure }
        return nil
    }
}
