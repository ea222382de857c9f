import Foundation
import Testing

/// `provisioner dev` and `provisioner simulate` as a user runs them.
@Suite("dev and simulate", .timeLimit(.minutes(10)))
struct DevCommandTests {
    static let config = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("config")

    @Test(
        "dev answers every sample command: all succeed except the ones that fail on purpose, with the code they are meant to fail with; it ends cleanly, with no error logged"
    )
    func devRunsTheSamples() async throws {
        let samples = Self.config.appendingPathComponent("samples.jsonl")
        // What the samples file promises: `"correlationId":"fails: <what>"` on the lines that must fail.
        var expected: [String: String?] = [:]
        for line in try String(contentsOf: samples, encoding: .utf8).split(separator: "\n") where line.hasPrefix("{") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let id = try #require(object["commandId"] as? String)
            expected.updateValue((object["correlationId"] as? String).flatMap { $0.hasPrefix("fails: ") ? String($0.dropFirst(7)) : nil }, forKey: id)
        }
        let dev = try ProvisionerProcess(
            arguments: [
                "dev", "--config", Self.config.appendingPathComponent("worker.yaml").path, "--samples", samples.path,
                "--credentials", Self.config.appendingPathComponent("simulator.env").path,
            ], environment: ["PROVISIONER_CONSOLE_PORT": "0", "LOG_LEVEL": "info"])
        let (stdout, stderr) = await dev.outputs()
        #expect(try await dev.exitCode() == 0, "\(stderr)")
        // Stopping is a graceful shutdown of every service: nothing cancelled, nothing to report.
        #expect(!stderr.split(separator: "\n").contains { $0.contains(" ERROR ") }, "\(stderr)")
        // The console too, with credentials made up for the run.
        let consoleLine = try #require(stdout.split(separator: "\n").first { $0.hasPrefix("console:") }, "\(stdout)")
        #expect(consoleLine.contains("http://127.0.0.1:") && consoleLine.contains("(sign in as ops, password "), "\(consoleLine)")
        #expect(stdout.contains("\(expected.count) replies, 0 duplicates"), "\(stdout)")
        // The console's address is printed, and so is that it stops with dev, and how to keep it.
        #expect(stdout.contains("`provisioner dev --keep-running` keeps them until Ctrl-C"), "\(stdout)")
        for (id, failure) in expected {
            let row = try #require(stdout.split(separator: "\n").first { $0.hasPrefix(id + " ") }, "no row for \(id)")
            if let failure {
                #expect(row.contains(" failed "), "\(row)")
                // "fails: TECS 24012" → the row shows code 24012.
                if let code = failure.split(separator: " ").last, failure.split(separator: " ").count == 2, !["unsupported", "target"].contains(code) {
                    #expect(row.contains("/\(code)"), "\(row)")
                }
            } else {
                #expect(row.contains(" succeeded "), "\(row)")
            }
        }
        // Every vendor was reached.
        for target in ["tecs-test", "urac-test", "servicemobility-test", "asms-test"] {
            #expect(stdout.split(separator: "\n").contains { $0.contains(" succeeded ") && $0.contains(target) }, "\(target)")
        }
    }

    @Test("simulate prints where it listens, and stops on SIGTERM with exit 0")
    func simulate() async throws {
        let simulate = try ProvisionerProcess(arguments: ["simulate", "--port", "0"])
        let line = try await simulate.firstLine()
        #expect(line.hasPrefix("simulators: http://127.0.0.1:"), "\(line)")
        #expect(line.contains("/usermanagement-backofficews") && line.contains("/urac") && line.contains("/seiapi/v3") && line.contains("/ASMSAPI"))
        simulate.terminate()
        #expect(try await simulate.exitCode() == 0)
    }

    @Test("simulate refuses a bad flag with exit 64")
    func simulateBadFlag() async throws {
        let simulate = try ProvisionerProcess(arguments: ["simulate", "--failure-rate", "2"])
        #expect(try await simulate.exitCode() == 64)
    }
}
