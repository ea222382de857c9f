import ArgumentParser
import Assembly
import Foundation
import Kafka
import Logging
import ProvisionerConfiguration
import ProvisioningContract

/// `provisioner send`: publishes commands, one JSON object a line, keyed `<target>:<user>`.
struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Publish commands, one JSON object a line, from a file or standard input.")

    @Option(help: "The configuration file (only its kafka section is used).")
    var config = "config/worker.yaml"

    @Argument(help: "A file of commands; standard input when absent or '-'.")
    var file: String?

    @Flag(
        help:
            "Also send lines that are not JSON, byte for byte (to see how workers answer them); without it such a line stops the send before anything is sent.")
    var raw = false

    func run() async throws {
        let logger = Logger(label: "provisioner.send")
        let settings = try ConfigurationLoader.load(config, sections: .kafka)
        try await KafkaReachability.check(settings.kafka, logger: logger)
        let data: Data
        if let file, file != "-" {
            guard let contents = FileManager.default.contents(atPath: file) else {
                FileHandle.standardError.write(Data("cannot read \(file)\n".utf8))
                throw ExitCode(64)
            }
            data = contents
        } else {
            data = FileHandle.standardInput.readDataToEndOfFile()
        }
        let notJSON = CommandLines.numbered(data).filter { (try? JSONParser.parse($0.line)) == nil }.map(\.number)
        if !notJSON.isEmpty, !raw {
            let lines = notJSON.prefix(10).map(String.init).joined(separator: ", ") + (notJSON.count > 10 ? ", …" : "")
            FileHandle.standardError.write(
                Data(
                    "line\(notJSON.count == 1 ? "" : "s") \(lines) of \(file ?? "standard input") not JSON: nothing sent (--raw sends such lines as they are)\n"
                        .utf8))
            throw ExitCode(64)
        }
        let records = CommandLines.blocks(data).joined().map { value in
            // Upstream systems key commands `<target>:<user identity>`; so does this tool.
            let key: [UInt8]? =
                switch CommandDecoder.decode(value) {
                case .success(let command): Array(command.derivedKey.utf8)
                case .failure: nil
                }
            return KafkaProducerMessage(topic: settings.kafka.commandsTopic, key: key, value: value)
        }
        let sent = try await KafkaProducer.with(configuration: settings.kafka.producerConfiguration, logger: logger) { producer in
            // Enqueued in file order (so each key keeps its order), then every delivery awaited.
            var pending = Set<UInt64>()
            for record in records {
                var enqueued = Result { () throws(KafkaError) in try producer.enqueue(record) }
                // librdkafka's queue full: let it drain, then try again.
                while case .failure(let error) = enqueued, error.code == .queueFull {
                    try await producer.flush()
                    enqueued = Result { () throws(KafkaError) in try producer.enqueue(record) }
                }
                pending.insert(try enqueued.get())
            }
            var sent = 0
            guard !pending.isEmpty else { return sent }
            for await report in producer.deliveryReports where pending.remove(report.id) != nil {
                if let error = report.error {
                    FileHandle.standardError.write(Data("send failed after \(sent) commands: \(error)\n".utf8))
                    throw ExitCode(69)
                }
                sent += 1
                if pending.isEmpty { break }
            }
            return sent
        }
        Console.line("sent \(sent) command\(sent == 1 ? "" : "s") to \(settings.kafka.commandsTopic)")
    }
}

/// Files of commands: one JSON object a line; `#` lines are comments; blank lines separate
/// blocks (which `dev` runs one after another).
enum CommandLines {
    /// Runs of command lines between blank lines.
    static func blocks(_ data: Data) -> [[[UInt8]]] {
        var blocks: [[[UInt8]]] = [[]]
        for (value, kind) in lines(data) {
            switch kind {
            case .blank: if !(blocks.last?.isEmpty ?? true) { blocks.append([]) }
            case .comment: continue
            case .command: blocks[blocks.count - 1].append(value)
            }
        }
        return blocks.filter { !$0.isEmpty }
    }

    /// The command lines with their line numbers (from 1), for messages about them.
    static func numbered(_ data: Data) -> [(number: Int, line: [UInt8])] {
        lines(data).enumerated().compactMap { index, entry in entry.kind == .command ? (index + 1, entry.value) : nil }
    }

    private enum Kind { case blank, comment, command }

    private static func lines(_ data: Data) -> [(value: [UInt8], kind: Kind)] {
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { line -> ([UInt8], Kind) in
            let value = Array(line)
            guard let first = value.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else { return (value, .blank) }
            return (value, first == UInt8(ascii: "#") ? .comment : .command)
        }
        // A final newline ends the last line; it does not start another.
        if lines.last?.1 == .blank, lines.last?.0.isEmpty == true { lines.removeLast() }
        return lines
    }

}
