import Foundation
import TestSupport
import Testing

/// The benchmark tool still runs end to end (tiny counts; no timing is asserted: performance is
/// measured by the tool, in release builds, not by the tests).
@Suite("provisioner-bench smoke run", .timeLimit(.minutes(10)))
struct BenchSmokeTests {
    @Test("raw path and dry-run scenario with 200 commands each: the table has both rows, every command answered")
    func smoke() async throws {
        let benchPath = Binary.provisioner.deletingLastPathComponent().appendingPathComponent("provisioner-bench")
        try #require(FileManager.default.isExecutableFile(atPath: benchPath.path), "provisioner-bench is built with the tests")
        let table = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString).md").path
        let bench = try ChildProcess(
            benchPath.path, ["--only", "raw,a", "--scale", "0.005", "--markdown", table], output: .null, error: .pipe)
        let stderr = try await bench.readErrorsToEnd()
        #expect(try await bench.wait() == .exit(0), "\(stderr)")
        let rows = try String(contentsOfFile: table, encoding: .utf8).split(separator: "\n").filter { $0.hasPrefix("| raw") || $0.hasPrefix("| a.") }
        #expect(rows.count == 2, "\(rows)")
        for row in rows {
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(cells[1] == "200" && (Double(cells[2]) ?? 0) > 0 && cells.last == "0", "\(row)")
        }
    }

    @Test(
        "narrow (maxInFlight 8 and 512 behind maxConcurrency 8) and c (the stub answering after 100 ms) with 200 commands each: rows, the ratio and ideal lines"
    )
    func stubScenarios() async throws {
        let table = try await run(["--only", "narrow,c", "--scale", "0.005"])
        let rows = table.split(separator: "\n").filter { $0.hasPrefix("| narrow:") || $0.hasPrefix("| c.") }
        #expect(rows.count == 3, "\(table)")
        for row in rows {
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(cells[1] == "200" && (Double(cells[2]) ?? 0) > 0 && cells.last == "0", "\(row)")
            // The stub's --latency holds every answer back: no reply of c comes sooner than 100 ms.
            if row.hasPrefix("| c.") {
                let p50 = Double(cells[4].split(separator: " ").first ?? "") ?? 0
                #expect(p50 >= 100, "\(row)")
            }
        }
        #expect(table.contains("narrow: 512 vs 8 CPU per command ratio "), "\(table)")
        // 200 commands on 200 keys: all of them in flight at once, so the ideal is 200 / 100 ms.
        #expect(table.contains("c: ") && table.contains("of the ideal 2000/s (200 in flight over the stub's 100 ms"), "\(table)")
    }

    @Test("an unknown scenario is refused before anything runs")
    func unknownScenario() async throws {
        let benchPath = try Self.benchPath()
        let bench = try ChildProcess(benchPath.path, ["--only", "narrow,nope"], output: .null, error: .pipe)
        let stderr = try await bench.readErrorsToEnd()
        #expect(try await bench.wait() != .exit(0))
        #expect(stderr.contains("unknown scenario 'nope'"), "\(stderr)")
    }

    static func benchPath() throws -> URL {
        let benchPath = Binary.provisioner.deletingLastPathComponent().appendingPathComponent("provisioner-bench")
        try #require(FileManager.default.isExecutableFile(atPath: benchPath.path), "provisioner-bench is built with the tests")
        return benchPath
    }

    /// Runs provisioner-bench to its end and returns the Markdown it wrote.
    func run(_ arguments: [String]) async throws -> String {
        let table = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString).md").path
        let bench = try ChildProcess(try Self.benchPath().path, arguments + ["--markdown", table], output: .null, error: .pipe)
        let stderr = try await bench.readErrorsToEnd()
        #expect(try await bench.wait() == .exit(0), "\(stderr)")
        return try String(contentsOfFile: table, encoding: .utf8)
    }
}
