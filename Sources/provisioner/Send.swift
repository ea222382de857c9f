import ArgumentParser
import Foundation
import Kafka
import Logging
import ProvisioningContract

/// `provisioner send`: publishes commands, one JSON object a line, keyed `<target>:<user>`.
struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Publish commands, one JSON object a line, from a file or standard input.")

    @Option(help: "The configuration file (only its kafka section is used).")
    var config = "config/worker.yaml"

    @Argument(help: "A file of commands; standard input when absent.")
    var file: String?

    func run() async throws {
        let logger = Logger(label: "provisioner.send")
        let settings = try ConfigurationLoader.load(config, includeTargets: false)
        try await KafkaReachability.check(settings.kafka, logger: logger)
        let data: Data
        if let file {
            guard let contents = FileManager.default.contents(atPath: file) else {
                FileHandle.standardError.write(Data("cannot read \(file)\n".utf8))
                throw ExitCode(64)
            }
            data = contents
        } else {
            data = FileHandle.standardInput.readDataToEndOfFile()
        }
        let producer = try KafkaProducer(configuration: settings.kafka.producerConfiguration, logger: logger)
        var sent = 0
        for value in CommandLines.blocks(data).joined() {
            // Upstream systems key commands `<target>:<user identity>`; so does this tool.
            let key: [UInt8]? = switch CommandDecoder.decode(value) {
            case .success(let command): Array(command.derivedKey.utf8)
            case .failure: nil
            }
            try await producer.send(KafkaProducerMessage(topic: settings.kafka.commandsTopic, key: key, value: value))
            sent += 1
        }
        await producer.close()
        Console.line("sent \(sent) command\(sent == 1 ? "" : "s") to \(settings.kafka.commandsTopic)")
    }
}

/// Files of commands: one JSON object a line; `#` lines are comments; blank lines separate
/// blocks (which `dev` runs one after another).
enum CommandLines {
    /// Runs of command lines between blank lines.
    static func blocks(_ data: Data) -> [[[UInt8]]] {
        var blocks: [[[UInt8]]] = [[]]
        for line in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            let value = Array(line)
            guard let first = value.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0D }) else {
                if !(blocks.last?.isEmpty ?? true) { blocks.append([]) }
                continue
            }
            if first != UInt8(ascii: "#") { blocks[blocks.count - 1].append(value) }
        }
        return blocks.filter { !$0.isEmpty }
    }

}
