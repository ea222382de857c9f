import Foundation
import TestSupport
import Testing

/// The benchmark tool still runs end to end (tiny counts; no timing is asserted: performance is
/// measured by the tool, in release builds, not by the tests).
@Suite("provisioner-bench smoke run")
struct BenchSmokeTests {
    @Test("raw path and dry-run scenario with 200 commands each: the table has both rows, every command answered")
    func smoke() async throws {
        let bench = Binary.provisioner.deletingLastPathComponent().appendingPathComponent("provisioner-bench")
        try #require(FileManager.default.isExecutableFile(atPath: bench.path), "provisioner-bench is built with the tests")
        let table = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString).md").path
        let process = Process()
        process.executableURL = bench
        process.arguments = ["--only", "raw,a", "--scale", "0.005", "--markdown", table]
        process.standardOutput = FileHandle.nullDevice
        let errors = Pipe()
        process.standardError = errors
        try process.run()
        let stderr = await onOwnThread {
            let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return text
        }
        #expect(process.terminationStatus == 0, "\(stderr)")
        let rows = try String(contentsOfFile: table, encoding: .utf8).split(separator: "\n").filter { $0.hasPrefix("| raw") || $0.hasPrefix("| a.") }
        #expect(rows.count == 2, "\(rows)")
        for row in rows {
            let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(cells[1] == "200" && (Double(cells[2]) ?? 0) > 0 && cells.last == "0", "\(row)")
        }
    }
}
