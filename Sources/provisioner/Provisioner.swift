import ArgumentParser
import Foundation
import Logging

@main
struct Provisioner: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provisioner",
        abstract: "Provisions user accounts into vendor systems from Kafka.",
        subcommands: [Run.self, Send.self, Replies.self, DeadLetters.self, Broker.self, Simulate.self, Dev.self]
    )

    static func main() async {
        // Logs go to standard error: standard output carries results (e.g. the bootstrap line).
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
            return handler
        }
        do {
            var command = try parseAsRoot()
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

/// Standard output, unbuffered: other processes read it line by line while we run.
enum Console {
    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}
