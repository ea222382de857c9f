import Foundation
import Testing

/// The chaos settings from the environment: `scripts/chaos` sets them for a long run.
enum ChaosSettings {
    /// CHAOS_SEED, or a new one (printed by the run, so that it can be replayed).
    static var seed: UInt64 {
        ProcessInfo.processInfo.environment["CHAOS_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...999_999)
    }

    /// CHAOS_MINUTES, or 75 s.
    static var duration: Duration {
        ProcessInfo.processInfo.environment["CHAOS_MINUTES"].flatMap { Double($0) }.map { .seconds($0 * 60) } ?? .seconds(75)
    }

    /// CHAOS_MODE (`at-least-once`, `exactly-once`), or both.
    static var modes: [Bool] {
        switch ProcessInfo.processInfo.environment["CHAOS_MODE"] {
        case "at-least-once": [false]
        case "exactly-once": [true]
        default: [false, true]
        }
    }
}

/// The short chaos run, in both delivery modes; `scripts/chaos` runs the long one. `scripts/test`
/// runs it in a `swift test` of its own after the rest (its `chaos` phase): beside the parallel
/// suite, its three brokers and three workers starve the other tests' timing on two cores.
extension FaultSuiteTests {
    @Test(
        "chaos: faults from outside, kills and restarts while commands flow: every command answered, every user created once, no redelivered create a conflict",
        arguments: ChaosSettings.modes)
    func chaos(exactlyOnce: Bool) async throws {
        let result: ChaosRun.Result
        do {
            result = try await ChaosRun(seed: ChaosSettings.seed, duration: ChaosSettings.duration, exactlyOnce: exactlyOnce).run()
        } catch let aborted as ChaosRun.EmbeddedClusterAborted {
            // librdkafka 2.0.2's mock cluster, not the workers, failed: it aborts now and then on
            // an assertion of its own (docs/worker-core.md). One more run, on a new cluster, so
            // that this cannot hide a failure of the workers: a second abort fails the test.
            print("chaos: \(aborted); once more with a new cluster and seed")
            result = try await ChaosRun(seed: UInt64.random(in: 1...999_999), duration: ChaosSettings.duration, exactlyOnce: exactlyOnce).run()
        }
        #expect(result.unanswered == 0)
        #expect(result.usersHeldTwice == 0)
        #expect(result.conflicts == 0)
        if let file = ProcessInfo.processInfo.environment["CHAOS_RESULTS"] {
            let line = "\(exactlyOnce ? "exactly once" : "at least once")\t\(result.summary)\n"
            if let handle = FileHandle(forWritingAtPath: file) {
                handle.seekToEndOfFile()
                handle.write(Data(line.utf8))
                try handle.close()
            } else {
                try line.write(toFile: file, atomically: true, encoding: .utf8)
            }
        }
    }
}
