import AsyncHTTPClient
import Foundation
import Logging
import Provisioning
import ProvisioningContract
import Testing
import VendorSimulators

@testable import VendorAdapters

extension Vendors {
    /// As `with`, but the adapters reach the simulators through `LeanHTTPClient`.
    static func withLean<T: Sendable>(_ body: (Vendors) async throws -> T) async throws -> T {
        var logger = Logger(label: "test.vendors")
        logger.logLevel = .error
        let simulator = VendorSimulator()
        return try await SimulatorServer.withRunning(simulator, port: 0, logger: logger) { server in
            let lean = LeanHTTPClient()
            // `Vendors` holds an AsyncHTTPClient for `with`; here it is made, unused, and shut down.
            let vendors = Vendors(
                simulator: simulator, server: server, http: HTTPClient(eventLoopGroupProvider: .singleton),
                adapters: Adapters.all(http: VendorHTTPClient(lean: lean, logger: logger)))
            do {
                let result = try await body(vendors)
                await lean.shutdown()
                await vendors.shutdown()
                return result
            } catch {
                await lean.shutdown()
                await vendors.shutdown()
                throw error
            }
        }
    }
}

/// The adapters' behaviour against the simulators, over the lean client: seed examples, the
/// error table, tokens, timeouts and failures read as they do over AsyncHTTPClient.
@Suite("Adapters over the lean HTTP client", .timeLimit(.minutes(10)))
struct LeanTransportAdapterTests {
    @Test("every vendor's seed example succeeds and is stored as the seed says")
    func seeds() async throws {
        try await Vendors.withLean { vendors in
            let tecs = await vendors.perform(
                try command(
                    #"{"commandId":"c1","target":"tecs-test","operation":"createUser","user":{"userName":"userlogin","email":"user@example.com","givenName":"UserName","familyName":"UserSurname","birthDate":"2000-01-01"}}"#
                ), on: .tecs)
            #expect(tecs.succeeded)
            #expect(tecs.vendorResponse?.body?["consumerId"] == .string("userlogin"))
            #expect(vendors.users(.tecs).first?["dateOfBirth"] == .string("01.01.2000"))
            let roles = await vendors.perform(
                try command(
                    #"{"commandId":"c2","target":"tecs-test","operation":"assignRoles","userId":"userlogin","roles":[{"name":"MP_CORPORATE","scope":"4dbbab90-74f5-4d8d-92e1-d02e6a4a0dee"}]}"#
                ), on: .tecs)
            #expect(roles.succeeded)

            let urac = await vendors.perform(
                try command(
                    #"{"commandId":"c1","target":"urac-test","operation":"createUser","user":{"userName":"john","givenName":"John","familyName":"Doe","email":"johndoe@domain.com"}}"#
                ), on: .urac)
            let id = try #require(urac.vendorUserId)
            #expect(urac.vendorResponse?.body?["data"]?["token"] == .string("<redacted>"))
            let edited = await vendors.perform(
                try command(
                    #"{"commandId":"c2","target":"urac-test","operation":"updateUser","userId":"\#(id)","user":{"userName":"john","active":true}}"#), on: .urac)
            #expect(edited.succeeded)

            let created = await vendors.perform(
                try command(
                    #"{"commandId":"c1","target":"servicemobility-test","operation":"createUser","user":{"userName":"jdoe","email":"jdoe@example.com","password":"s3cret-Pa55"}}"#
                ), on: .servicemobility)
            #expect(created.vendorUserId == "jdoe")
            let read = await vendors.perform(try command(#"{"commandId":"c2","target":"t","operation":"getUser","userId":"jdoe"}"#), on: .servicemobility)
            #expect(read.data?["user"]?["email"] == .string("jdoe@example.com"))
            let deleted = await vendors.perform(try command(#"{"commandId":"c3","target":"t","operation":"deleteUser","userId":"jdoe"}"#), on: .servicemobility)
            #expect(deleted.succeeded)
            let again = await vendors.perform(try command(#"{"commandId":"c4","target":"t","operation":"deleteUser","userId":"jdoe"}"#), on: .servicemobility)
            #expect(again.failure?.error.code == "410")
            #expect(again.vendorResponse?.httpStatus == 410)

            let asms = await vendors.perform(
                try command(
                    #"{"commandId":"c1","target":"asms-test","operation":"createUser","user":{"userName":"pruebamabc111","displayName":"nombre prueba once","email":"p@example.com","password":"Aranda123","extensions":{"asms":{"projectId":19,"stateId":1,"consoleType":"Administrator","registerType":"specialist"}}}}"#
                ), on: .asms)
            #expect(asms.vendorUserId == "4848")
            #expect(asms.vendorResponse?.body == .object(["id": .integer(4848), "result": .bool(true)]))
        }
    }

    @Test("each code of the error table reads the same", arguments: VendorErrorTable.rules)
    func code(_ rule: VendorErrorRule) async throws {
        try await Vendors.withLean { vendors in
            let vendor = SimulatedVendor(rawValue: rule.vendor.rawValue)!
            let json = rule.operation == .createUser ? ErrorMappingTests.createCommands[rule.vendor]! : ErrorMappingTests.seeds[rule.vendor]!
            vendors.simulator.queueError(vendor, code: rule.code, count: 2)
            let failure = try #require(await vendors.perform(try command(json), on: rule.vendor).failure)
            #expect(failure.error.category == rule.category)
            #expect(failure.error.code == rule.code)
            #expect(failure.error.retryable == rule.retryable)
            #expect(failure.vendorResponse?.httpStatus != nil)
        }
    }

    @Test("an expired token is renewed once and the call succeeds", arguments: [VendorKind.servicemobility, .asms])
    func tokenRenewal(_ vendor: VendorKind) async throws {
        try await Vendors.withLean { vendors in
            let simulated = SimulatedVendor(rawValue: vendor.rawValue)!
            let create =
                vendor == .asms
                ? #"{"commandId":"c","target":"t","operation":"createUser","user":{"userName":"ana","password":"Aranda123","extensions":{"asms":{"projectId":19,"stateId":1,"consoleType":1,"registerType":53}}}}"#
                : #"{"commandId":"c","target":"t","operation":"createUser","user":{"userName":"ana","email":"ana@example.com"}}"#
            #expect(await vendors.perform(try command(create), on: vendor).succeeded)
            vendors.simulator.expireTokens(simulated)
            let userId = vendor == .asms ? "4848" : "ana"
            let read = await vendors.perform(try command(#"{"commandId":"r","target":"t","operation":"getUser","userId":"\#(userId)"}"#), on: vendor)
            #expect(read.data?["user"]?["userName"] == .string("ana"))
            #expect(vendors.simulator.stats(simulated).tokensIssued == 2)
        }
    }

    @Test("50 commands at once all succeed over one token")
    func concurrent() async throws {
        try await Vendors.withLean { vendors in
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<50 {
                    let json =
                        #"{"commandId":"c\#(index)","target":"t","operation":"createUser","user":{"userName":"u\#(index)","email":"u\#(index)@example.com"}}"#
                    group.addTask { await vendors.perform(try command(json), on: .servicemobility).succeeded }
                }
                for try await succeeded in group { #expect(succeeded) }
            }
            #expect(vendors.simulator.stats(.servicemobility).tokensIssued == 1)
            #expect(vendors.users(.servicemobility).count == 50)
        }
    }

    @Test("a redelivered createUser finds its own user, and another person under the name is a conflict", arguments: VendorKind.allCases)
    func redeliveredCreate(_ vendor: VendorKind) async throws {
        try await Vendors.withLean { vendors in
            let json =
                vendor == .asms
                ? #"{"commandId":"c","target":"t","operation":"createUser","user":{"userName":"ana","email":"ana@example.com","password":"Aranda123","extensions":{"asms":{"projectId":19,"stateId":1,"consoleType":1,"registerType":53}}}}"#
                : #"{"commandId":"c","target":"t","operation":"createUser","user":{"userName":"ana","email":"ana@example.com","givenName":"Ana","familyName":"Lopez","password":"s3cret-Pa55"}}"#
            let first = await vendors.perform(try command(json), on: vendor)
            let second = await vendors.perform(try command(json), on: vendor)
            #expect(first.succeeded && second.succeeded)
            #expect(second.vendorUserId == first.vendorUserId)
            #expect(second.data?["alreadyExisted"] == .bool(true))
            let other = json.replacingOccurrences(of: "ana@example.com", with: "someone@example.com")
            #expect(await vendors.perform(try command(other), on: vendor).failure?.error.category == .conflict)
        }
    }

    @Test("a user id with a slash, spaces and non-ASCII letters reaches the vendor as one id")
    func awkwardUserIds() async throws {
        try await Vendors.withLean { vendors in
            let name = "ana maria/ü&x=1?#%"
            let create =
                #"{"commandId":"c","target":"t","operation":"createUser","user":{"userName":"\#(name)","email":"ana@example.com","password":"Top-Secret-9"}}"#
            #expect(await vendors.perform(try command(create), on: .servicemobility).succeeded)
            #expect(vendors.users(.servicemobility).compactMap { $0["UserID"]?.stringValue } == [name])
            let read = await vendors.perform(try command(#"{"commandId":"g","target":"t","operation":"getUser","userId":"\#(name)"}"#), on: .servicemobility)
            #expect(read.failure == nil)
        }
    }

    @Test("5xx and 429 are unavailable and retryable, a stalled vendor times out, a refused one is unavailable")
    func failures() async throws {
        try await Vendors.withLean { vendors in
            for status in [500, 503, 429] {
                vendors.simulator.setFaults(SimulatorFaults(failureRate: 1, failureStatus: status), for: .asms)
                let failure = try #require(await vendors.perform(try command(ErrorMappingTests.seeds[.asms]!), on: .asms).failure)
                #expect(failure.error.category == .unavailable && failure.error.retryable)
                #expect(failure.vendorResponse?.httpStatus == status)
            }
            vendors.simulator.setFaults(SimulatorFaults(stallMs: 3_000), for: .tecs)
            let stalled = await vendors.adapters[.tecs]!.perform(
                try command(ErrorMappingTests.seeds[.tecs]!), for: vendors.target(.tecs, timeout: .milliseconds(300)))
            #expect(stalled.failure?.error.category == .unavailable)
            #expect(stalled.failure?.error.message.contains("no answer within") == true)
            #expect(stalled.vendorResponse == nil)
            let refused = await vendors.adapters[.tecs]!.perform(
                try command(ErrorMappingTests.seeds[.tecs]!), for: vendors.target(.tecs, baseURL: "http://127.0.0.1:1/usermanagement-backofficews"))
            #expect(refused.failure?.error.category == .unavailable)
            #expect(refused.failure?.error.retryable == true)
        }
    }
}
