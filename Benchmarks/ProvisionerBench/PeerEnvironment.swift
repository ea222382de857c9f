import Foundation

/// The Python peer's interpreter: a venv built from `Benchmarks/peer/requirements.txt` (every
/// package pinned), so that every run measures the same confluent-kafka, librdkafka and aiohttp.
/// The venv is built with `python3 -m venv` and `pip install -r` only when it is missing, broken,
/// or the requirements changed since it was built (their hash is kept next to it).
struct PeerEnvironment: Sendable {
    /// The venv's own interpreter, which runs `worker.py`.
    let python: URL
    /// What the peer runs on, e.g. "Python 3.11.7, confluent-kafka 2.16.1 (librdkafka 2.16.0), aiohttp 3.14.5".
    let versions: String

    /// The file in the venv that holds the hash of the requirements it was built from.
    static let stampName = ".requirements-hash"

    static func prepare(venv: URL, requirements: URL) throws -> PeerEnvironment {
        guard let pinned = FileManager.default.contents(atPath: requirements.path) else {
            throw BenchError("no \(requirements.path): run provisioner-bench from the package's root")
        }
        let hash = fnv1a64(pinned)
        let python = venv.appendingPathComponent("bin/python")
        let stamp = venv.appendingPathComponent(stampName)
        let built = (try? String(contentsOf: stamp, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        if built == hash, FileManager.default.isExecutableFile(atPath: python.path), let versions = try? probe(python) {
            Scenario.stage("peer: \(versions) (venv \(venv.path), up to date with \(requirements.lastPathComponent) \(hash))")
            return PeerEnvironment(python: python, versions: versions)
        }
        let why = built == nil ? "no venv yet" : built == hash ? "the venv does not run" : "\(requirements.lastPathComponent) changed"
        Scenario.stage("peer: building the venv at \(venv.path) from \(requirements.path) (\(why))")
        if FileManager.default.fileExists(atPath: venv.path) { try FileManager.default.removeItem(at: venv) }
        try FileManager.default.createDirectory(at: venv.deletingLastPathComponent(), withIntermediateDirectories: true)
        try run(
            URL(fileURLWithPath: "/usr/bin/env"), ["python3", "-m", "venv", venv.path],
            hint: "python3 with its venv module is needed (Debian: apt-get install python3-venv)")
        try run(
            python, ["-m", "pip", "install", "--disable-pip-version-check", "--quiet", "-r", requirements.path],
            hint: "pip could not install the pinned packages (is PyPI reachable?)")
        let versions = try probe(python)
        // Written last: an interrupted build is rebuilt on the next run.
        try Data("\(hash)\n".utf8).write(to: stamp)
        Scenario.stage("peer: \(versions) (venv \(venv.path), built from \(requirements.lastPathComponent) \(hash))")
        return PeerEnvironment(python: python, versions: versions)
    }

    /// The versions the venv's interpreter imports.
    static func probe(_ python: URL) throws -> String {
        let script = """
            import sys, importlib.metadata as m, confluent_kafka, aiohttp
            print("Python %s, confluent-kafka %s (librdkafka %s), aiohttp %s" % (sys.version.split()[0], m.version("confluent-kafka"), confluent_kafka.libversion()[0], m.version("aiohttp")))
            """
        let output = try run(python, ["-c", script], hint: "the peer's venv cannot import its packages", capture: true)
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs a command to its end; its output goes to standard error (standard output is the
    /// table's), or is returned when captured.
    @discardableResult
    static func run(_ executable: URL, _ arguments: [String], hint: String, capture: Bool = false) throws -> String {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = capture ? pipe : FileHandle.standardError
        process.standardError = FileHandle.standardError
        try process.run()
        let output = capture ? pipe.fileHandleForReading.readDataToEndOfFile() : Data()
        process.waitUntilExit()
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw BenchError("\(([executable.path] + arguments).joined(separator: " ")) failed (status \(process.terminationStatus)): \(hint)")
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// FNV-1a, 64 bits, as 16 hex digits: enough to notice a changed file.
    static func fnv1a64(_ data: Data) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in data {
            hash ^= UInt64(byte)
            hash &*= 0x0000_0100_0000_01b3
        }
        let digits = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
