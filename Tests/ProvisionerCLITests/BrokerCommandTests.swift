import Foundation
import Kafka
import Logging
import TestSupport
import Testing

/// `provisioner broker` as another process uses it: contract section 8.
@Suite("provisioner broker")
struct BrokerCommandTests {
    @Test("prints the bootstrap list first, serves the contract topics to other clients, and exits 0 on SIGTERM")
    func brokerServesOtherProcesses() async throws {
        let bootstrapFile = FileManager.default.temporaryDirectory.appendingPathComponent("bootstrap-\(UUID().uuidString).txt")
        let broker = try ProvisionerProcess(arguments: ["broker", "--brokers", "2", "--partitions", "4", "--bootstrap-file", bootstrapFile.path])
        defer { broker.kill() }
        let bootstrap = try await broker.firstLine()
        #expect(bootstrap.split(separator: ",").count == 2)
        #expect(bootstrap.split(separator: ",").allSatisfy { $0.hasPrefix("127.0.0.1:") })
        #expect(try String(contentsOf: bootstrapFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == bootstrap)

        var logger = Logger(label: "cli-test")
        logger.logLevel = .critical
        let admin = try KafkaAdminClient(bootstrapServers: bootstrap, logger: logger)
        let metadata = try await admin.metadata()
        await admin.close()
        for topic in ["provisioning.commands", "provisioning.replies", "provisioning.dlq"] {
            #expect(metadata.topic(topic)?.partitions.count == 4, "\(topic)")
        }
        #expect(metadata.brokers.count == 2)

        // A producer and a group consumer in this process talk to the broker in the other one.
        let producer = try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap), logger: logger)
        try await producer.send(KafkaProducerMessage(topic: "provisioning.commands", key: "tecs-test:jdoe", value: #"{"commandId":"1"}"#))
        await producer.close()
        var configuration = KafkaConsumerConfiguration(bootstrapServers: bootstrap, groupId: "cli-test", topics: ["provisioning.commands"])
        configuration.properties = ["session.timeout.ms": "4000"]
        let consumer = try KafkaConsumer(configuration: configuration, logger: logger)
        let message = try await firstMessage(consumer)
        await consumer.close()
        #expect(message?.key == Array("tecs-test:jdoe".utf8))

        broker.terminate()
        #expect(try await broker.exitCode() == 0)
    }

    @Test("kcat lists the topics and produces and consumes with a group", .enabled(if: Kcat.path != nil, "kcat is not installed"))
    func kcatInterop() async throws {
        let broker = try ProvisionerProcess(arguments: ["broker", "--partitions", "3"])
        defer { broker.kill() }
        let bootstrap = try await broker.firstLine()

        let listing = try await Kcat.run(["-b", bootstrap, "-L"])
        #expect(listing.contains(#"topic "provisioning.commands" with 3 partitions"#))
        #expect(listing.contains(#"topic "provisioning.replies" with 3 partitions"#))
        #expect(listing.contains(#"topic "provisioning.dlq" with 3 partitions"#))

        _ = try await Kcat.run(["-b", bootstrap, "-P", "-t", "provisioning.commands", "-k", "k1", "-H", "commandId=c-1"], input: "hello from kcat\n")
        let consumed = try await Kcat.run([
            "-b", bootstrap, "-G", "kcat-group", "-X", "session.timeout.ms=4000", "-X", "auto.offset.reset=earliest",
            "-e", "-f", "%k|%s|%h\n", "provisioning.commands",
        ])
        #expect(consumed.contains("k1|hello from kcat|commandId=c-1"))

        broker.terminate()
        #expect(try await broker.exitCode() == 0)
    }

    private func firstMessage(_ consumer: KafkaConsumer) async throws -> KafkaConsumerMessage? {
        let task = Task {
            for await message in consumer.messages { return Optional(message) }
            return nil
        }
        let timeout = Task {
            try await Task.sleep(for: .seconds(30))
            task.cancel()
        }
        defer { timeout.cancel() }
        return await task.value
    }
}

/// The built `provisioner`, next to this test bundle.
enum Binary {
    static var provisioner: URL {
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [bundle, bundle.deletingLastPathComponent()] {
            let url = candidate.appendingPathComponent("provisioner")
            if FileManager.default.isExecutableFile(atPath: url.path) { return url }
        }
        return bundle.appendingPathComponent("provisioner")
    }

    /// `LOG_LEVEL` of the worker subprocesses of the crash and chaos tests: `error`, or
    /// TEST_WORKER_LOG_LEVEL (e.g. `info`, to read their rebalances and refused commits in
    /// the `provisioner-*.stderr` files the tests leave in the temporary directory).
    static var workerLogLevel: String { ProcessInfo.processInfo.environment["TEST_WORKER_LOG_LEVEL"] ?? "error" }
}

/// A `provisioner` subprocess whose standard output is read line by line.
final class ProvisionerProcess: @unchecked Sendable {
    private let process = Process()
    private let output = Pipe()
    /// Standard error goes to a file: a pipe nobody reads until the end fills up (64 KiB) and
    /// then blocks the process on its next log line.
    private let errorsFile = FileManager.default.temporaryDirectory.appendingPathComponent("provisioner-\(UUID().uuidString).stderr")
    private let input = Pipe()

    init(arguments: [String], environment: [String: String]? = nil) throws {
        process.executableURL = Binary.provisioner
        process.arguments = arguments
        process.standardOutput = output
        FileManager.default.createFile(atPath: errorsFile.path, contents: nil)
        process.standardError = try FileHandle(forWritingTo: errorsFile)
        process.standardInput = input
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new } }
        try process.run()
    }

    /// Writes `text` to standard input and closes it.
    func send(_ text: String) throws {
        input.fileHandleForWriting.write(Data(text.utf8))
        try input.fileHandleForWriting.close()
    }

    /// Standard error so far (the process may still run).
    var errorsSoFar: String {
        String(decoding: (try? Data(contentsOf: errorsFile)) ?? Data(), as: UTF8.self)
    }

    /// Everything on standard output and standard error once the process has ended.
    func outputs() async -> (stdout: String, stderr: String) {
        let (output, errorsFile, process) = (self.output, self.errorsFile, self.process)
        return await onOwnThread {
            let out = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            let err = (try? Data(contentsOf: errorsFile)) ?? Data()
            return (String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
        }
    }

    /// The first line of standard output (the contract puts the bootstrap list there).
    func firstLine() async throws -> String { try await nextLine() }

    /// The next line of standard output.
    func nextLine() async throws -> String {
        let handle = output.fileHandleForReading
        return try await onOwnThread {
            var bytes: [UInt8] = []
            while true {
                let chunk = try handle.read(upToCount: 1) ?? Data()
                guard let byte = chunk.first else { throw CLIError("no output from provisioner") }
                if byte == UInt8(ascii: "\n") { break }
                bytes.append(byte)
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    func terminate() { process.terminate() }

    func interrupt() { process.interrupt() }

    func kill() {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    }

    func exitCode() async throws -> Int32 {
        let process = self.process
        return try await onOwnThread {
            process.waitUntilExit()
            guard process.terminationReason == .exit else { throw CLIError("provisioner died of signal \(process.terminationStatus)") }
            return process.terminationStatus
        }
    }
}

enum Kcat {
    static let path: String? = ["/usr/bin/kcat", "/usr/local/bin/kcat"].first { FileManager.default.isExecutableFile(atPath: $0) }

    static func run(_ arguments: [String], input: String? = nil) async throws -> String {
        try await onOwnThread {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: path!)
            process.arguments = arguments
            let output = Pipe()
            process.standardOutput = output
            process.standardError = FileHandle.nullDevice
            let stdin = Pipe()
            process.standardInput = stdin
            try process.run()
            if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
            try stdin.fileHandleForWriting.close()
            let data = output.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw CLIError("kcat \(arguments) exited \(process.terminationStatus)") }
            return String(decoding: data, as: UTF8.self)
        }
    }
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
