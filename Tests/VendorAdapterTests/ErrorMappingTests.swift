import Foundation
import Provisioning
import ProvisioningContract
import Testing
import VendorAdapters
import VendorSimulators

/// Every row of the error table: the simulator answers the code in the vendor's own shape and
/// HTTP status, and the adapter reports the row's category, retryability and the vendor's code.
@Suite("Vendor error codes", .serialized, .timeLimit(.minutes(10)))
struct ErrorMappingTests {
    static let seeds: [VendorKind: String] = [
        .tecs: #"{"commandId":"e","target":"t","operation":"assignRoles","userId":"userlogin","roles":[{"name":"MP_CORPORATE"}]}"#,
        .urac: #"{"commandId":"e","target":"t","operation":"getUser","userId":"218c0788124f5dfb67933fb0"}"#,
        .servicemobility: #"{"commandId":"e","target":"t","operation":"getUser","userId":"jdoe"}"#,
        .asms: #"{"commandId":"e","target":"t","operation":"getUser","userId":"4848"}"#,
    ]
    static let createCommands: [VendorKind: String] = [
        .urac:
            #"{"commandId":"e","target":"t","operation":"createUser","user":{"userName":"john","email":"john@example.com","givenName":"J","familyName":"D"}}"#
    ]

    @Test("each code of the table", arguments: VendorErrorTable.rules)
    func code(_ rule: VendorErrorRule) async throws {
        try await Vendors.with { vendors in
            let vendor = SimulatedVendor(rawValue: rule.vendor.rawValue)!
            let json = rule.operation == .createUser ? Self.createCommands[rule.vendor]! : Self.seeds[rule.vendor]!
            // 401s are answered by renewing the token once: the code must come twice to stick.
            vendors.simulator.queueError(vendor, code: rule.code, count: 2)
            let outcome = await vendors.perform(try command(json), on: rule.vendor)
            let failure = try #require(outcome.failure, "\(rule.vendor) \(rule.code) should fail")
            #expect(failure.error.category == rule.category)
            #expect(failure.error.code == rule.code)
            #expect(failure.error.retryable == rule.retryable)
            #expect(failure.vendorResponse?.code == rule.code)
            #expect(failure.vendorResponse?.httpStatus != nil)
            #expect(!(failure.error.message.isEmpty))
        }
    }

    @Test("URAC errors read the same with HTTP 200 (soajs 2.x) and HTTP 500 (3.x)", arguments: [200, 500])
    func uracStatus(_ status: Int) async throws {
        try await Vendors.with { vendors in
            vendors.simulator.setURACErrorStatus(status)
            let outcome = await vendors.perform(try command(Self.seeds[.urac]!), on: .urac)
            // A user that is not there: URAC 405 (or 411 for a malformed id).
            #expect(outcome.failure?.error.category == .notFound)
            #expect(outcome.failure?.error.code == "405")
            #expect(outcome.vendorResponse?.httpStatus == status)
        }
    }

    @Test("a code outside the table: unavailable on 5xx, vendor_error otherwise")
    func unknownCodes() async throws {
        try await Vendors.with { vendors in
            vendors.simulator.queueError(.tecs, code: "29999")
            let tecs = await vendors.perform(try command(Self.seeds[.tecs]!), on: .tecs)
            #expect(tecs.failure?.error.category == .vendorError)
            #expect(tecs.failure?.error.code == "29999")
            #expect(tecs.failure?.error.retryable == false)

            vendors.simulator.queueError(.servicemobility, code: "507")
            let sm = await vendors.perform(try command(Self.seeds[.servicemobility]!), on: .servicemobility)
            #expect(sm.failure?.error.category == .unavailable)
            #expect(sm.failure?.error.code == "507")
            #expect(sm.failure?.error.retryable == true)
        }
    }

    @Test("bodies that are not the vendor's: 5xx and 429 are unavailable and retryable, with what the vendor said", arguments: [500, 503, 429])
    func unparseable(_ status: Int) async throws {
        try await Vendors.with { vendors in
            for vendor in VendorKind.allCases {
                vendors.simulator.setFaults(SimulatorFaults(failureRate: 1, failureStatus: status), for: SimulatedVendor(rawValue: vendor.rawValue)!)
                let outcome = await vendors.perform(try command(Self.seeds[vendor]!), on: vendor)
                let failure = try #require(outcome.failure)
                #expect(failure.error.category == .unavailable, "\(vendor)")
                #expect(failure.error.retryable, "\(vendor)")
                #expect(failure.vendorResponse?.httpStatus == status, "\(vendor)")
            }
        }
    }

    @Test("a vendor that is down is unavailable")
    func down() async throws {
        try await Vendors.with { vendors in
            vendors.simulator.setFaults(SimulatorFaults(down: true), for: .asms)
            let outcome = await vendors.perform(try command(Self.seeds[.asms]!), on: .asms)
            #expect(outcome.failure?.error.category == .unavailable)
            #expect(outcome.failure?.error.retryable == true)
        }
    }

    @Test("no answer within the target's timeout: unavailable, retryable")
    func timeout() async throws {
        try await Vendors.with { vendors in
            vendors.simulator.setFaults(SimulatorFaults(stallMs: 3_000), for: .tecs)
            let target = vendors.target(.tecs, timeout: .milliseconds(300))
            let outcome = await vendors.adapters[.tecs]!.perform(try command(Self.seeds[.tecs]!), for: target)
            #expect(outcome.failure?.error.category == .unavailable)
            #expect(outcome.failure?.error.retryable == true)
            #expect(outcome.failure?.error.message.contains("no answer within") == true)
            #expect(outcome.vendorResponse == nil)
        }
    }

    @Test("connection refused: unavailable, retryable")
    func refused() async throws {
        try await Vendors.with { vendors in
            let target = vendors.target(.tecs, baseURL: "http://127.0.0.1:1/usermanagement-backofficews")
            let outcome = await vendors.adapters[.tecs]!.perform(try command(Self.seeds[.tecs]!), for: target)
            #expect(outcome.failure?.error.category == .unavailable)
            #expect(outcome.failure?.error.retryable == true)
        }
    }

    @Test("wrong credentials are unauthorized, for every vendor")
    func wrongCredentials() async throws {
        try await Vendors.with { vendors in
            for vendor in VendorKind.allCases {
                var target = vendors.target(vendor)
                target.credentials = target.credentials.mapValues { _ in Secret("wrong-\(UUID().uuidString)") }
                let outcome = await vendors.adapters[vendor]!.perform(try command(Self.seeds[vendor]!), for: target)
                #expect(outcome.failure?.error.category == .unauthorized, "\(vendor)")
                #expect(outcome.failure?.error.category.isDeadLettered == true)
                // The secret that was refused appears nowhere in what the worker reports.
                let wrong = target.credentials.values.first!.revealed
                #expect(!"\(outcome)".contains(wrong))
            }
        }
    }
}

extension VendorErrorRule: CustomTestStringConvertible {
    public var testDescription: String { "\(vendor.rawValue) \(code)\(operation.map { " on \($0.rawValue)" } ?? "")" }
}
