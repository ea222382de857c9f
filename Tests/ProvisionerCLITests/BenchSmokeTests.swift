import Foundation
import TestSupport
import Testing

/// The benchmark tool still runs end to end (tiny counts; no timing is asserted: performance is
/// measured by the tool, in release builds, not by the tests).
@Suite("provisioner-bench smoke run")
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
}
