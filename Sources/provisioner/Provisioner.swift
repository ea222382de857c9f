import ArgumentParser
import Foundation
import Logging
import Observability
import Synchronization
import Tracing

@main
struct Provisioner: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provisioner",
        abstract: "Provisions user accounts into vendor systems from Kafka.",
        version: ProvisionerVersion.current,
        subcommands: [Run.self, Send.self, Replies.self, DeadLetters.self, ReconcileCommand.self, ConsoleCommand.self, Broker.self, Simulate.self, Dev.self]
    )

    static func main() async {
        LogSetup.bootstrap()
        do {
            var command = try parseAsRoot()
            // `run` chooses its tracer from its configuration (observability.otlp).
            if !(command is Run) { TraceSetup.bootstrapPropagationOnly() }
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}

/// The software version: `provisioner --version` and the workers' status records.
enum ProvisionerVersion {
    static let current = "0.9.0"
}

/// Standard output, unbuffered: other processes read it line by line while we run.
enum Console {
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}

/// Logging and tracing for every subcommand. Logs go to standard error (standard output carries
/// results, e.g. the bootstrap line), redacted, in the configured format; every line logged while
/// a command runs carries its identity and trace ids.
enum LogSetup {
    /// The format of loggers made from now on: `run` sets it from `observability.logFormat`
    /// before it makes its loggers. Until then, the environment's override, or text.
    static let format = Mutex<LogFormat>(
        ProcessInfo.processInfo.environment["PROVISIONER_OBSERVABILITY_LOGFORMAT"].flatMap(LogFormat.init(rawValue:)) ?? .text
    )
    static let level = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info

    static func bootstrap() {
        LoggingSystem.bootstrap(
            { label, provider in
                StructuredLogHandler(label: label, format: format.withLock { $0 }, level: level, metadataProvider: provider)
            }, metadataProvider: .multiplex([.command, .traceContext]))
        // Log lines wait in `LogOutput`'s buffer for its writer thread: written out before exit.
        atexit { LogOutput.standardError.flush() }
    }
}
