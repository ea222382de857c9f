import AsyncHTTPClient
import Foundation
import Logging
import ProvisioningContract
import Testing
import VendorSimulators

@Suite("Simulator controls", .timeLimit(.minutes(10)))
struct ControlTests {
    static let tecsUser = #"{"login":"ctl","email":"ctl@x.test"}"#

    @Test("reset forgets users and stats; users shows them as stored; stats counts business calls and tokens only")
    func resetUsersStats() async throws {
        try await Harness.run { h in
            _ = try await h.tecs("registerUser", Self.tecsUser)
            let token = try await h.smToken()
            _ = try await h.sm("GET", "nobody", token: token)
            let users = try await h.call("GET", "/_sim/tecs/users")
            #expect(users.json?.arrayValue?.first?["consumerId"] == .string("ctl"))
            let stats = try await h.call("GET", "/_sim/stats")
            #expect(stats["tecs"]?["calls"] == .integer(1))
            #expect(stats["servicemobility"]?["calls"] == .integer(1))
            #expect(stats["servicemobility"]?["tokensIssued"] == .integer(1))
            #expect(h.simulator.stats(.asms) == SimulatorStats(calls: 0, tokensIssued: 0))

            #expect(try await h.call("POST", "/_sim/reset").status == 200)
            #expect(try await h.call("GET", "/_sim/tecs/users").json == .array([]))
            #expect(h.simulator.stats(.tecs).calls == 0)
            #expect(try await h.sm("GET", "nobody", token: token).status == 401)
            #expect(try await h.call("GET", "/_sim/nobody/users").status == 404)
        }
    }

    @Test("faults: failureRate 1 with 429 answers plain text and Retry-After; 500 has no Retry-After; DELETE clears")
    func failures() async throws {
        try await Harness.run { h in
            let set = try await h.call("PUT", "/_sim/faults", body: #"{"vendor":"tecs","failureRate":1,"failureStatus":429,"retryAfterSeconds":7}"#)
            #expect(set.status == 200)
            #expect(set["tecs"]?["failureStatus"] == .integer(429))
            let limited = try await h.tecs("registerUser", Self.tecsUser)
            #expect(limited.status == 429)
            #expect(limited.body == "simulated failure")
            #expect(limited.headers["retry-after"] == "7")
            #expect(h.simulator.users(.tecs).isEmpty)
            // Only the vendor named is affected.
            #expect(try await h.urac("GET", "getUser", query: "uId=x").status == 200)

            _ = try await h.call("PUT", "/_sim/faults", body: #"{"vendor":"tecs","failureRate":1,"failureStatus":500}"#)
            let failed = try await h.tecs("registerUser", Self.tecsUser)
            #expect(failed.status == 500)
            #expect(failed.headers["retry-after"] == nil)

            #expect(try await h.call("GET", "/_sim/faults")["tecs"]?["failureRate"] == .integer(1))
            #expect(try await h.call("DELETE", "/_sim/faults").status == 200)
            #expect(try await h.tecs("registerUser", Self.tecsUser)["responseCode"] == .integer(0))
            #expect(try await h.call("PUT", "/_sim/faults", body: #"{"failureRate":2}"#).status == 400)
            #expect(try await h.call("PUT", "/_sim/faults", body: #"{"vendor":"acme"}"#).status == 400)
        }
    }

    @Test("down: every business call answers 503 vendor down, token calls still work")
    func down() async throws {
        try await Harness.run { h in
            _ = try await h.call("PUT", "/_sim/faults", body: #"{"vendor":"asms","down":true}"#)
            let token = try await h.asmsToken()
            let reply = try await h.asms("GET", "user?id=4848", token: token)
            #expect(reply.status == 503)
            #expect(reply.body == "vendor down")
            #expect(h.simulator.stats(.asms).tokensIssued == 1)
            #expect(try await h.tecs("listOfUsers", "{}").status == 200)
        }
    }

    @Test("stall: a call stalls past a short client timeout; latency delays without failing")
    func stallAndLatency() async throws {
        try await Harness.run { h in
            h.simulator.setFaults(SimulatorFaults(stallMs: 600), for: .urac)
            await #expect(throws: HTTPClientError.self) {
                try await h.urac("GET", "getUser", query: "uId=x", timeout: .milliseconds(150))
            }
            h.simulator.setFaults(SimulatorFaults(latencyMs: 150), for: .tecs)
            let start = ContinuousClock.now
            let listed = try await h.tecs("listOfUsers", "{}")
            #expect(listed["responseCode"] == .integer(0))
            #expect(ContinuousClock.now - start >= .milliseconds(150))
        }
    }

    @Test("errors: each vendor's queued code in its own shape and status, for count calls, then normal answers")
    func queuedErrors() async throws {
        try await Harness.run { h in
            #expect(try await h.call("POST", "/_sim/errors", body: #"{"vendor":"tecs","code":25013,"count":2}"#).status == 200)
            for _ in 0..<2 {
                let reply = try await h.tecs("registerUser", Self.tecsUser)
                #expect(reply.status == 200)
                #expect(reply.body == #"{"responseCode":25013,"responseMessage":"DATA_ACCESS_ERROR"}"#)
            }
            #expect(try await h.tecs("registerUser", Self.tecsUser)["responseCode"] == .integer(0))

            _ = try await h.call("POST", "/_sim/errors", body: #"{"vendor":"urac","code":400}"#)
            let database = try await h.urac("GET", "getUser", query: "uId=x")
            #expect(database.status == 200)
            #expect(database["errors"]?["details"]?.arrayValue?.first?["code"] == .integer(400))
            _ = try await h.call("POST", "/_sim/errors", body: #"{"vendor":"urac","code":"158"}"#)
            #expect(try await h.urac("GET", "getUser", query: "uId=x").status == 401)

            let token = try await h.smToken()
            _ = try await h.call("POST", "/_sim/errors", body: #"{"vendor":"servicemobility","code":409}"#)
            let conflict = try await h.sm("GET", "x", token: token)
            #expect(conflict.status == 409)
            #expect(conflict["code"] == .integer(409))
            #expect(conflict["detail"]?["message"]?.stringValue != nil)

            let asmsToken = try await h.asmsToken()
            h.simulator.queueError(.asms, code: "FailureAddUser")
            let failure = try await h.asms("POST", "user", token: asmsToken, body: ASMSSimulatorTests.body())
            #expect(failure.status == 500)
            #expect(failure.body == #"{"result":false,"status":"InternalServerError","message":"FailureAddUser"}"#)

            #expect(try await h.call("POST", "/_sim/errors", body: #"{"vendor":"servicemobility","code":"nope"}"#).status == 400)
            #expect(try await h.call("POST", "/_sim/errors", body: #"{"vendor":"tecs"}"#).status == 400)
        }
    }

    @Test("tokens/expire: issued tokens answer 401 until a new one is fetched")
    func expireTokens() async throws {
        try await Harness.run { h in
            let sm = try await h.smToken()
            let asms = try await h.asmsToken()
            #expect(try await h.call("POST", "/_sim/tokens/expire", body: #"{"vendor":"servicemobility"}"#).status == 200)
            #expect(try await h.sm("GET", "x", token: sm).status == 401)
            #expect(try await h.asms("GET", "user?id=1", token: asms).status == 404)
            #expect(try await h.sm("GET", "x", token: try await h.smToken()).status == 410)

            #expect(try await h.call("POST", "/_sim/tokens/expire").status == 200)
            let expired = try await h.asms("GET", "user?id=1", token: asms)
            #expect(expired.status == 401)
            #expect(expired["message"] == .string("InvalidToken"))
        }
    }

    @Test("start-up faults come back after a reset; a stopped server refuses calls and frees its port")
    func startupFaultsAndStop() async throws {
        let simulator = VendorSimulator(faultsByVendor: [.tecs: SimulatorFaults(down: true)])
        var logger = Logger(label: "simulator-tests")
        logger.logLevel = .warning
        let (h, port) = try await SimulatorServer.withRunning(simulator, port: 0, logger: logger) { server in
            let h = Harness(simulator: simulator, server: server)
            #expect(server.baseURL == "http://127.0.0.1:\(server.port)")
            #expect(try await h.tecs("listOfUsers", "{}").status == 503)
            _ = try await h.call("DELETE", "/_sim/faults")
            #expect(try await h.tecs("listOfUsers", "{}").status == 200)
            _ = try await h.call("POST", "/_sim/reset")
            #expect(try await h.tecs("listOfUsers", "{}").status == 503)
            return (h, server.port)
        }
        // Stopped once its scope ended: calls are refused.
        await #expect(throws: (any Error).self) {
            try await h.call("GET", "/_sim/stats", timeout: .milliseconds(300))
        }
        // The port is free again: a new server can listen on it.
        let again = try await SimulatorServer.withRunning(VendorSimulator(), port: port, logger: logger) { $0.port }
        #expect(again == port)
    }
}
