import AsyncHTTPClient
import Foundation
import Kafka

/// A child process: started with its output on pipes (standard error to a file, so that a log
/// nobody reads cannot block it), stopped with SIGTERM.
final class Child: @unchecked Sendable {
    private let process = Process()
    private let output = Pipe()
    private var buffered = Data()
    var healthPort: Int?

    init(_ executable: URL, _ arguments: [String], environment: [String: String] = [:]) throws {
        process.executableURL = executable
        process.arguments = arguments
        process.standardOutput = output
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString).stderr")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: errors)
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        try process.run()
    }

    /// The first line of standard output (a bootstrap list, a URL, "assigned").
    func firstLine() async throws -> String {
        let handle = output.fileHandleForReading
        return try await Task.detached { [self] in
            while true {
                if let newline = buffered.firstIndex(of: UInt8(ascii: "\n")) {
                    let line = String(decoding: buffered[..<newline], as: UTF8.self)
                    buffered.removeSubrange(...newline)
                    return line
                }
                let chunk = handle.availableData
                if chunk.isEmpty { throw BenchError("\(process.executableURL?.lastPathComponent ?? "") ended before printing a line") }
                buffered.append(chunk)
            }
        }.value
    }

    /// A worker has joined its group: `/health/ready` answers 200, or the echo worker printed
    /// its first assignment.
    func waitUntilReady() async throws {
        guard let healthPort else {
            _ = try await firstLine()
            return
        }
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let response = try? await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(healthPort)/health/ready"), timeout: .seconds(2)),
                response.status == .ok
            {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("worker not ready within 60 s")
    }

    /// User and system CPU time so far (/proc/PID/stat).
    var cpuSeconds: Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // After the command name: state is field 3, utime 14 and stime 15 (1-based, whole line).
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Peak resident set size (VmHWM in /proc/PID/status), MB.
    var peakRSSMegabytes: Double {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kilobytes / 1024
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// How many replies are on the replies topic, from its partitions' high watermarks: counting
/// them costs the machine nothing while the workers are measured.
final class Watermarks: Sendable {
    private let consumer: KafkaConsumer
    private let partitions: Int32

    init(bootstrap: String, partitions: Int32, clients: KafkaClients) throws {
        self.partitions = partitions
        // In no group and assigned nothing: only used for its metadata calls.
        consumer = clients.run(try KafkaConsumer(configuration: .groupless(bootstrapServers: bootstrap), logger: quietLogger))
    }

    func waitForReplies(_ count: Int, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            var total: Int64 = 0
            for partition in 0..<partitions {
                total += try await consumer.watermarks(KafkaTopicPartition(topic: "provisioning.replies", partition: partition)).high
            }
            if total >= count { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw BenchError("fewer than \(count) replies after \(timeout)")
    }
}

/// A reply as the benchmark needs it: key, write time, outcome.
struct ReadReply: Sendable {
    var key: String?
    var timestamp: Int64
    var failed: Bool
}

/// Reads the replies topic from the start to its end, after the measurement.
enum RepliesReader {
    static func read(bootstrap: String, partitions: Int32) async throws -> [ReadReply] {
        let reader = KafkaTopicReader(bootstrapServers: bootstrap, topic: "provisioning.replies", logger: quietLogger)
        let extent = try await reader.extent()
        // The embedded broker keeps about 5 MB a partition and drops the oldest records.
        if let (partition, range) = extent.first(where: { $0.value.lowerBound > 0 }) {
            throw BenchError(
                "partition \(partition) of the replies lost its first \(range.lowerBound) records to the embedded broker's size cap: use fewer commands")
        }
        var replies: [ReadReply] = []
        try await reader.read(extent) { message in
            replies.append(
                ReadReply(
                    key: message.key.map { String(decoding: $0, as: UTF8.self) }, timestamp: message.timestampMilliseconds ?? 0,
                    failed: message.headers.string("status") == "failed"
                ))
        }
        return replies
    }
}

/// A TCP port nobody listens on now.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw BenchError("socket failed") }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw BenchError("bind failed") }
    return Int(UInt16(bigEndian: address.sin_port))
}
