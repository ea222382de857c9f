import ArgumentParser
import Foundation
import Kafka
import Logging

/// `provisioner-bench`: throughput, latency, memory and CPU of the worker, scenario by scenario,
/// each against the raw Kafka path measured in the same run. Every process is a real one: an
/// embedded cluster (`provisioner broker`), the simulators (`provisioner simulate`) and the
/// workers (`provisioner run`, or `provisioner-bench echo` for the raw path) run as children, so
/// a worker's peak RSS and CPU time are its own.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provisioner-bench",
        abstract: "Benchmarks the provisioning worker against the raw Kafka path.",
        subcommands: [Scenarios.self, ConsoleFollow.self, Echo.self, Stub.self],
        defaultSubcommand: Scenarios.self
    )
}

/// Runs the scenarios and prints the table.
struct Scenarios: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scenarios", abstract: "Run the benchmark scenarios (the default).")

    @Option(
        help:
            "Comma-separated scenarios: raw, a, b, c, d, e, peer (provisioner and the Python peer against one stub), narrow (maxInFlight 8 and 512 behind a target's maxConcurrency 8)."
    )
    var only = "raw,a,b,c,d,e,peer,narrow"

    @Option(help: "Multiplies every scenario's command count (0.01 for a smoke run).")
    var scale = 1.0

    @Option(help: "Also write the Markdown table to this file.")
    var markdown: String?

    @Option(help: "The Python peer's venv, built from Benchmarks/peer/requirements.txt when missing or when that file changed.")
    var peerVenv = ".build/peer-venv"

    func run() async throws {
        var binaries = try Binaries.locate()
        var results: [Measurement] = []
        var raw: Measurement?
        // The hot-key scenario is judged against the same other keys without the hot one.
        let names = only.split(separator: ",").flatMap { name -> [String] in
            switch name {
            case "d": ["d-alone", "d"]
            case "peer": ["peer-provisioner", "peer-python"]
            case "narrow": ["narrow-8", "narrow-512"]
            default: [String(name)]
            }
        }
        // Every name is checked before anything runs, and the peer's venv is ready before the first scenario.
        for name in names where Scenario.named(name, scale: scale) == nil { throw ValidationError("unknown scenario '\(name)'") }
        var peer: PeerEnvironment?
        if names.contains("peer-python") {
            let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            let venv = peerVenv.hasPrefix("/") ? URL(fileURLWithPath: peerVenv) : root.appendingPathComponent(peerVenv)
            peer = try PeerEnvironment.prepare(venv: venv, requirements: binaries.peerRequirements)
            binaries.peerPython = peer?.python
        }
        for name in names {
            guard let scenario = Scenario.named(name, scale: scale) else { throw ValidationError("unknown scenario '\(name)'") }
            FileHandle.standardError.write(Data("running \(scenario.title) (\(scenario.commands) commands)\n".utf8))
            let result = try await scenario.measure(binaries: binaries)
            if name == "raw" { raw = result }
            results.append(result)
            FileHandle.standardError.write(Data("  \(result.summary)\n".utf8))
        }
        let table = Report.markdown(results, raw: raw, peerVersions: peer?.versions)
        print(table)
        if let markdown { try table.write(toFile: markdown, atomically: true, encoding: .utf8) }
    }
}

/// Where the executables are: `provisioner` is built next to `provisioner-bench`.
struct Binaries {
    let provisioner: URL
    let bench: URL
    /// `Benchmarks/peer/worker.py`, found from the working directory (the package's root).
    var peer: URL { URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("Benchmarks/peer/worker.py") }
    /// The pinned packages the peer's venv is built from, next to `worker.py`.
    var peerRequirements: URL { peer.deletingLastPathComponent().appendingPathComponent("requirements.txt") }
    /// The peer venv's interpreter, once `PeerEnvironment.prepare` has built or checked it.
    var peerPython: URL?

    static func locate() throws -> Binaries {
        let bench = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let provisioner = bench.deletingLastPathComponent().appendingPathComponent("provisioner")
        guard FileManager.default.isExecutableFile(atPath: provisioner.path) else {
            throw ValidationError("no provisioner next to \(bench.path): build both (`swift build -c release`)")
        }
        return Binaries(provisioner: provisioner, bench: bench)
    }
}

/// Logs of the benchmark's own Kafka clients: only what goes wrong.
let quietLogger: Logger = {
    var logger = Logger(label: "bench")
    logger.logLevel = .error
    return logger
}()
