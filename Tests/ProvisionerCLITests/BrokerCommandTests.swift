import Foundation
import Kafka
import Logging
import Synchronization
import TestSupport
import Testing

/// `provisioner broker` as another process uses it: contract section 8.
@Suite("provisioner broker", .timeLimit(.minutes(10)))
struct BrokerCommandTests {
    @Test("prints the bootstrap list first, serves the contract topics to other clients, and exits 0 on SIGTERM")
    func brokerServesOtherProcesses() async throws {
        try await withKafkaClients { clients in
            let bootstrapFile = FileManager.default.temporaryDirectory.appendingPathComponent("bootstrap-\(UUID().uuidString).txt")
            let broker = try ProvisionerProcess(arguments: ["broker", "--brokers", "2", "--partitions", "4", "--bootstrap-file", bootstrapFile.path])
            defer { broker.kill() }
            let bootstrap = try await broker.firstLine()
            #expect(bootstrap.split(separator: ",").count == 2)
            #expect(bootstrap.split(separator: ",").allSatisfy { $0.hasPrefix("127.0.0.1:") })
            #expect(try String(contentsOf: bootstrapFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == bootstrap)

            var logger = Logger(label: "cli-test")
            logger.logLevel = .critical
            let admin = clients.run(try KafkaAdminClient(bootstrapServers: bootstrap, logger: logger))
            let metadata = try await admin.metadata()
            await clients.stop(admin)
            for topic in ["provisioning.commands", "provisioning.replies", "provisioning.dlq"] {
                #expect(metadata.topic(topic)?.partitions.count == 4, "\(topic)")
            }
            #expect(metadata.brokers.count == 2)

            // A producer and a group consumer in this process talk to the broker in the other one.
            let producer = clients.run(try KafkaProducer(configuration: KafkaProducerConfiguration(bootstrapServers: bootstrap), logger: logger))
            try await producer.send(KafkaProducerMessage(topic: "provisioning.commands", key: "tecs-test:jdoe", value: #"{"commandId":"1"}"#))
            await clients.stop(producer)
            var configuration = KafkaConsumerConfiguration(bootstrapServers: bootstrap, groupId: "cli-test", topics: ["provisioning.commands"])
            configuration.properties = ["session.timeout.ms": "4000"]
            let consumer = clients.run(try KafkaConsumer(configuration: configuration, logger: logger))
            let message = try await firstMessage(consumer)
            await clients.stop(consumer)
            #expect(message?.key == Array("tecs-test:jdoe".utf8))

            broker.terminate()
            #expect(try await broker.exitCode() == 0)
        }
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

    @Test(
        "a process still running past its limit has its stack written by gdb before it is killed",
        .enabled(if: ChildProcess.gdbInstalled, "gdb is not installed"))
    func stacksOfAHungProcess() async throws {
        // One thread, idle: gdb can hang attaching to a process while it starts threads (it did
        // once, to a starting broker under a full suite's load), which a stuck worker is not.
        let sleeper = try ChildProcess("/bin/sleep", ["600"], output: .null)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("sleep-\(UUID().uuidString).stacks").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let stillRunning = Mutex(false)
        await #expect(throws: ChildProcessError.self) {
            try await sleeper.wait(upTo: .seconds(1)) {
                stillRunning.withLock { $0 = sleeper.termination == nil }
                await sleeper.writeStacks(to: path)
            }
        }
        #expect(stillRunning.withLock { $0 }, "the stack is taken before the kill")
        let stacks = try String(contentsOfFile: path, encoding: .utf8)
        #expect(stacks.contains("Thread 1") && stacks.contains("nanosleep"), "\(stacks.prefix(2000))")
        #expect(sleeper.termination == .signal(SIGKILL))
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
final class ProvisionerProcess: Sendable {
    private let child: ChildProcess
    /// Standard error goes to a file: a pipe nobody reads until the end fills up (64 KiB) and
    /// then blocks the process on its next log line.
    private let errorsFile = FileManager.default.temporaryDirectory.appendingPathComponent("provisioner-\(UUID().uuidString).stderr")

    init(arguments: [String], environment: [String: String]? = nil) throws {
        child = try ChildProcess(
            Binary.provisioner.path, arguments, environment: environment ?? [:], input: .pipe, output: .pipe, error: .file(errorsFile.path))
    }

    /// Writes `text` to standard input and closes it.
    func send(_ text: String) throws {
        try child.write(text)
        child.closeInput()
    }

    /// Standard error so far (the process may still run).
    var errorsSoFar: String {
        String(decoding: (try? Data(contentsOf: errorsFile)) ?? Data(), as: UTF8.self)
    }

    /// Everything on standard output and standard error once the process has ended (empty
    /// output, and the deadline named in standard error, if it did not end within 600 s).
    func outputs() async -> (stdout: String, stderr: String) {
        do {
            let out = try await child.readToEnd(upTo: .seconds(600))
            try await child.wait(upTo: .seconds(600))
            return (out, errorsSoFar)
        } catch {
            return ("", "\(error)\n" + errorsSoFar)
        }
    }

    /// The first line of standard output (the contract puts the bootstrap list there).
    func firstLine() async throws -> String { try await nextLine() }

    /// The next line of standard output.
    func nextLine() async throws -> String {
        guard let line = try await child.readLine() else { throw CLIError("no output from provisioner: \(errorsSoFar.suffix(2000))") }
        return line
    }

    func terminate() { child.send(SIGTERM) }

    func interrupt() { child.send(SIGINT) }

    func kill() { child.send(SIGKILL) }

    /// Where standard error goes.
    var errorsPath: String { errorsFile.path }

    /// Where `exitCode(within:stacksBeforeKill:)` writes the threads' stacks of a hung process.
    var stacksPath: String { errorsFile.path + ".stacks" }

    /// The exit status; a process still running after `limit` is killed and this throws.
    /// `stacksBeforeKill` first writes every thread's stack to `stacksPath` (where gdb exists).
    func exitCode(within limit: Duration = .seconds(600), stacksBeforeKill: Bool = false) async throws -> Int32 {
        let (child, path) = (child, stacksPath)
        let beforeKill: (@Sendable () async -> Void)? = stacksBeforeKill ? { @Sendable in await child.writeStacks(to: path) } : nil
        switch try await child.wait(upTo: limit, beforeKill: beforeKill) {
        case .exit(let status): return status
        case .signal(let signal): throw CLIError("provisioner died of signal \(signal)")
        }
    }
}

enum Kcat {
    static let path: String? = ["/usr/bin/kcat", "/usr/local/bin/kcat"].first { FileManager.default.isExecutableFile(atPath: $0) }

    static func run(_ arguments: [String], input: String? = nil) async throws -> String {
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("kcat-\(UUID().uuidString).stderr")
        defer { try? FileManager.default.removeItem(at: errors) }
        let child = try ChildProcess(path!, arguments, input: .pipe, error: .file(errors.path))
        if let input { try child.write(input) }
        child.closeInput()
        let output = try await child.readToEnd(upTo: .seconds(120))
        let ended = try await child.wait(upTo: .seconds(120))
        guard ended == .exit(0) else {
            let stderr = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
            throw CLIError("kcat \(arguments) ended with \(ended): \(stderr.suffix(2000))")
        }
        return output
    }
}

struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
