import Foundation
import Testing

/// The short chaos run of `swift test`, in both delivery modes; `scripts/chaos` runs the long one
/// (CHAOS_SEED and CHAOS_MINUTES set the seed and the length; the seed is printed either way).
@Suite("Chaos over subprocesses", .serialized)
struct ChaosTests {
    static var seed: UInt64 {
        ProcessInfo.processInfo.environment["CHAOS_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...999_999)
    }

    static var duration: Duration {
        ProcessInfo.processInfo.environment["CHAOS_MINUTES"].flatMap { Double($0) }.map { .seconds($0 * 60) } ?? .seconds(75)
    }

    static var modes: [Bool] {
        switch ProcessInfo.processInfo.environment["CHAOS_MODE"] {
        case "at-least-once": [false]
        case "exactly-once": [true]
        default: [false, true]
        }
    }

    @Test(
        "faults from outside, kills and restarts while commands flow: every command answered, every user created once, no redelivered create a conflict",
        arguments: modes)
    func chaos(exactlyOnce: Bool) async throws {
        let result = try await ChaosRun(seed: Self.seed, duration: Self.duration, exactlyOnce: exactlyOnce).run()
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
